package memory_test

import (
	"testing"

	"github.com/tern-mq/tern/store"
	"github.com/tern-mq/tern/store/memory"
	"github.com/tern-mq/tern/store/storetest"
)

// The memory backend keeps nothing across Close, so RunReopen does not
// apply to it.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(*testing.T) store.Store { return memory.New() })
}
