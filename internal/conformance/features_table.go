package conformance

// Features lists the MQTT 5 features of issue #4 with the tests that show
// each works: against the broker over the wire, with Tern's client, and
// with other implementations (paho.golang, paho.mqtt.golang, MQTT.js,
// Mosquitto's command-line clients).
var Features = []Feature{
	{"Session Expiry Interval: CONNECT and DISCONNECT rules, expired sessions removed, a maximum, 3.1.1 persistent session expiry", []string{
		"broker.TestDisconnectSessionExpiry_MQTT5_3_14_2_2", "broker.TestSessionDiscardedAfterExpiry_MQTT5_4_1_0_2",
		"broker.TestSessionExpiry_MQTT5_3_1_2_23", "broker.TestMaxSessionExpiry", "broker.TestPersistentClientExpiration",
		"broker.TestCleanSessionEndsWithConnection_MQTT_3_1_2_6", "internal/interop.TestPaho5PersistentSession"}},
	{"Message Expiry Interval: decremented when forwarded, expired messages never sent", []string{
		"broker.TestMessageExpiry_MQTT5_3_3_2_5", "session.TestNoExpiryOnceSent_MQTT5_4_3_3_7",
		"session.TestQoS2ReceiverIgnoresExpiry_MQTT5_4_3_3_13"}},
	{"Topic aliases both ways", []string{
		"broker.TestTopicAliasInbound_MQTT5_3_3_2_12", "broker.TestTopicAliasInvalid_MQTT5_3_3_2_9", "broker.TestTopicAliasUnknown",
		"broker.TestTopicAliasOutbound_MQTT5_3_3_2_11", "client.TestClientAliasWithinServerMax_MQTT5_3_2_2_17",
		"client.TestClientAcceptsAliases_MQTT5_3_3_2_10", "client.TestMosquittoTopicAliases", "internal/interop.TestPaho5TopicAliases",
		"internal/interop.TestMQTTJS"}},
	{"Flow control: Receive Maximum both ways, Maximum Packet Size both ways", []string{
		"broker.TestReceiveMaximumHonoured_MQTT5_3_3_4_9", "broker.TestReceiveMaximumExceeded",
		"broker.TestClientReceiveMaximumEnforced_MQTT5_3_3_4_7", "broker.TestQuotaZeroOtherPacketsFlow_MQTT5_3_3_4_10",
		"broker.TestMaximumPacketSizeHonoured_MQTT5_3_1_2_25", "broker.TestPacketTooLargeDisconnects_MQTT5_3_2_2_15",
		"session.TestInitialSendQuota_MQTT5_4_9_0_1", "client.TestClientQuotaDoesNotDelayOthers_MQTT5_3_3_4_8"}},
	{"CONNACK capabilities from configuration", []string{
		"broker.TestConnackDefaultCapabilities", "broker.TestConnackCapabilities_MQTT5_3_2_2_11", "broker.TestMaximumQoSAnnounced_MQTT5_3_2_2_9",
		"broker.TestServerKeepAlive_MQTT5_3_2_2_21", "broker.TestResponseInformation_MQTT5_3_1_2_28",
		"broker.TestRequestProblemInformation_MQTT5_3_1_2_29", "client.TestClientKeepAlive_MQTT5_3_1_2_21"}},
	{"Subscription options: No Local, Retain As Published, Retain Handling", []string{
		"broker.TestSubscriptionOptions_MQTT5_3_8_3_3", "broker.TestRetainAsPublished_MQTT5_3_3_1_12",
		"broker.TestRetainHandlingZeroResubscribe_MQTT5_3_8_4_4", "internal/interop.TestPaho5SubscriptionOptions"}},
	{"Shared subscriptions for 5.0 and 3.1.1 clients, strategies, hand-over of in-flight and queued messages", []string{
		"broker.TestSharedSubscriptionRoundRobin_MQTT5_4_8_2_1", "broker.TestSharedSubscriptionInvalid_MQTT5_4_8_2_2",
		"broker.TestSharedSubscriptionNoLocal_MQTT5_3_8_3_4", "broker.TestSharedSubscriptionNoRetained",
		"broker.TestSharedSubscriptionHandover_MQTT5_4_8_2_5", "broker.TestSharedSubscriptionPrefersConnected",
		"broker.TestSharedSubscriptionSurvivesRestart", "broker.TestSharePolicyHash", "broker.TestSharedQoS2CompletedOnReconnect_MQTT5_4_8_2_4",
		"broker.TestSubscriptionIDPerCopy_MQTT5_3_3_4_5", "internal/interop.TestPaho5SharedSubscriptions", "internal/interop.TestMQTTJS"}},
	{"Will Delay Interval with session expiry, cancelled by reconnection", []string{
		"broker.TestWillDelay_MQTT5_3_1_3_9", "broker.TestWillPublishedAtSessionEnd_MQTT5_3_1_3_9", "broker.TestWillRemoved_MQTT5_3_1_2_10",
		"broker.TestWillUserPropertyOrder_MQTT5_3_1_3_10", "internal/interop.TestPaho5Will"}},
	{"Enhanced authentication: AUTH exchange, re-authentication, SCRAM-SHA-256", []string{
		"broker.TestEnhancedAuthSCRAM_MQTT5_4_12_0_2", "broker.TestEnhancedAuthRefusals_MQTT5_4_12_0_1", "broker.TestEnhancedReauth_MQTT5_4_12_1_1",
		"broker.TestNoAuthWithoutMethod_MQTT5_4_12_0_6", "broker.TestOnlyAuthBeforeConnack_MQTT5_3_1_2_30",
		"client.TestSCRAMSHA256AgainstBroker", "client.TestReauthenticate_MQTT5_4_12_1_1", "internal/interop.TestClientSCRAMAgainstBroker",
		"cmd/tern.TestServeSCRAMFile"}},
	{"Server redirect: Server Reference in CONNACK 0x9C/0x9D and in DISCONNECT from a draining broker", []string{
		"broker.TestServerRedirect", "broker.TestDrainUseAnotherServer_MQTT5_3_14_2_1", "broker.TestDrainServerMovedAtRate",
		"client.TestServerReference", "cmd/tern.TestServeDrainOnSIGUSR1", "internal/interop.TestPahoDrainRedirect"}},
	{"Request/response: Response Information, Response Topic, Correlation Data end to end", []string{
		"broker.TestResponseInformation_MQTT5_3_1_2_28", "broker.TestPropertiesPassedThrough_MQTT5_3_3_2_17",
		"client.TestRequestResponse", "internal/interop.TestPaho5PropertiesPassThrough", "internal/interop.TestMQTTJS"}},
	{"Reason codes and Reason Strings everywhere a v5 packet carries them", []string{
		"broker.TestSubackMatchesSubscribe_MQTT_3_8_4_2", "broker.TestUnsubscribe_MQTT_3_10_4_6",
		"broker.TestMalformedPacketsDisconnect_MQTT5_4_13_1_1", "broker.TestFailedPubackDiscards_MQTT5_4_8_2_6",
		"client.TestConnectRefusedNamesReason", "internal/interop.TestPaho5ReasonCodes"}},
	{"Interoperability with Mosquitto's command-line clients (-V 5, -D properties)", []string{"scripts/interop-mosquitto.sh"}},
}
