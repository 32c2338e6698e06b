// MQTT.js (the npm package mqtt) against a running tern broker.
// Usage: TERN_URL=mqtt://127.0.0.1:1883 node interop.mjs
// Checks topic aliases, shared subscriptions and MQTT 5 request/response;
// prints one line per check and exits non-zero on the first failure.
import mqtt from 'mqtt'

const url = process.env.TERN_URL || 'mqtt://127.0.0.1:1883'
const run = Math.random().toString(36).slice(2, 8)
const timeoutMs = 5000

function fail (msg) {
  console.error('FAIL ' + msg)
  process.exit(1)
}

function connect (id, opts = {}) {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(url, {
      protocolVersion: 5, clientId: `${id}-${run}`, clean: true, reconnectPeriod: 0, connectTimeout: timeoutMs, ...opts
    })
    c.once('connect', (connack) => resolve({ c, connack }))
    c.once('error', reject)
  })
}

function subscribe (c, filter, qos = 1) {
  return new Promise((resolve, reject) => {
    c.subscribe(filter, { qos }, (err, granted) => {
      if (err) return reject(err)
      if (granted[0].qos !== qos) return reject(new Error(`${filter}: granted ${JSON.stringify(granted)}`))
      resolve()
    })
  })
}

function publish (c, topic, payload, opts = {}) {
  return new Promise((resolve, reject) => {
    c.publish(topic, payload, { qos: 1, ...opts }, (err) => err ? reject(err) : resolve())
  })
}

// collect resolves with the first n messages c receives.
function collect (c, n) {
  return new Promise((resolve, reject) => {
    const got = []
    const timer = setTimeout(() => reject(new Error(`timed out after ${got.length} of ${n} messages`)), timeoutMs)
    c.on('message', function onMessage (topic, payload, packet) {
      got.push({ topic, payload: payload.toString(), packet })
      if (got.length === n) {
        clearTimeout(timer)
        c.removeListener('message', onMessage)
        resolve(got)
      }
    })
  })
}

const quiet = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

async function topicAliases () {
  // The subscriber accepts aliases from the broker, MQTT.js resolves them.
  const { c: sub } = await connect('alias-sub', { properties: { topicAliasMaximum: 5 } })
  await subscribe(sub, `alias/${run}/#`)
  const { c: pub, connack } = await connect('alias-pub', { autoAssignTopicAlias: true })
  const max = connack.properties && connack.properties.topicAliasMaximum
  if (!max) fail(`topic aliases: CONNACK Topic Alias Maximum ${max}`)
  const topic = `alias/${run}/a/rather/long/topic/name`
  const wait = collect(sub, 3)
  for (const p of ['1', '2', '3']) await publish(pub, topic, p) // the 2nd and 3rd go with an empty topic
  const got = await wait
  for (const [i, m] of got.entries()) {
    if (m.topic !== topic || m.payload !== String(i + 1)) fail(`topic aliases: got ${m.topic} ${m.payload}`)
  }
  const aliased = got.filter((m) => m.packet.properties && m.packet.properties.topicAlias).length
  sub.end(); pub.end()
  if (aliased !== 3) fail(`topic aliases: ${aliased} of 3 messages from the broker carried an alias`)
  console.log(`ok topic aliases both ways (broker's Topic Alias Maximum ${max})`)
}

async function sharedSubscriptions () {
  const filter = `$share/js/shared/${run}`
  const members = []
  for (const v of [5, 4]) { // an MQTT 5 and an MQTT 3.1.1 member
    const { c } = await connect(`member${v}`, { protocolVersion: v })
    await subscribe(c, filter)
    members.push(c)
  }
  const { c: pub } = await connect('shared-pub')
  const n = 10
  const waits = members.map((c) => collect(c, n / 2))
  for (let i = 0; i < n; i++) await publish(pub, `shared/${run}`, String(i))
  const got = (await Promise.all(waits)).flat().map((m) => m.payload)
  await quiet(200)
  if (new Set(got).size !== n) fail(`shared subscriptions: members got ${got}`)
  members.forEach((c) => c.end()); pub.end()
  console.log(`ok shared subscriptions (${n} messages, ${n / 2} to each of 2 members, MQTT 5 and 3.1.1)`)
}

async function requestResponse () {
  const { c: responder } = await connect('responder')
  await subscribe(responder, `svc/${run}/req`)
  responder.on('message', (topic, payload, packet) => {
    const p = packet.properties || {}
    if (!p.responseTopic) return
    responder.publish(p.responseTopic, 're:' + payload.toString(), { qos: 1, properties: { correlationData: p.correlationData } })
  })
  const { c: requester } = await connect('requester')
  const respTopic = `svc/${run}/resp`
  await subscribe(requester, respTopic)
  const wait = collect(requester, 2)
  for (const id of ['a', 'b']) {
    await publish(requester, `svc/${run}/req`, 'q' + id, { properties: { responseTopic: respTopic, correlationData: Buffer.from('corr-' + id) } })
  }
  const got = await wait
  for (const m of got) {
    const corr = m.packet.properties && m.packet.properties.correlationData
    if (!corr) fail('request/response: no Correlation Data on the response')
    const id = corr.toString().slice(5)
    if (m.payload !== 're:q' + id) fail(`request/response: ${m.payload} for correlation ${corr}`)
  }
  responder.end(); requester.end()
  console.log('ok request/response (Response Topic and Correlation Data passed through)')
}

const all = setTimeout(() => fail('timed out'), 4 * timeoutMs)
try {
  await topicAliases()
  await sharedSubscriptions()
  await requestResponse()
} catch (e) {
  fail(e.stack || String(e))
}
clearTimeout(all)
