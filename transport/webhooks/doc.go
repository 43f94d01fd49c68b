// Package webhooks delivers the webhook events of every app: the network edge of webhooks.
// The channel grains produce each event once for the cluster and hand it to Emit, which never
// blocks; this package owns everything after that: a queue per target, batching, signing, the
// HTTP POSTs, retries with back-off, the bound on what may wait, and the logs and metrics of
// all of it. It is plain Go, not an actor.
//
// # Targets and batches
//
// A target is one app id and one webhook URL. Each has its own queue and its own goroutine
// (made on its first event), and each POST in flight a goroutine of its own, so a slow or dead
// receiver never holds up another one; nothing costs a goroutine per event. Events a target gets within batch_window
// of the first go in one POST of at most batch_max_events (a full batch goes at once). The body
// is {"time_ms":T,"events":[...]}, signed with the app secret in X-Pusher-Signature beside
// X-Pusher-Key, with a traceparent from the POST's client span. Key and secret are read from the
// *configs.App last emitted for that app id when the POST is sent, so changed settings apply to
// what is still queued. A target whose URL left the app's settings still delivers what it holds.
//
// A 2xx answer delivers the batch. Anything else fails it: another status, a 3xx (redirects are
// not followed), a network error, or no full answer within timeout.
//
// # Retries beside fresh batches
//
// A failed batch goes to the target's retry backlog and is sent again unchanged (same body, so
// the same time_ms: a receiver can tell a repeat) after initial_backoff, doubling per failure
// up to max_backoff, each wait less up to 20% jitter, until retry_for after its first attempt;
// the last retry happens when retry_for ends, and if it fails too the batch is dropped. (A
// retry due while another retry of the target is in flight waits for that one to end, at most
// one timeout.)
//
// A failing target does not hold new events behind its failed batches: fresh batches keep
// going out at their normal pace while failed ones wait for their back-off, so once the
// receiver answers again a new event is delivered within batch_window plus one POST. The first
// success after failures also makes the whole backlog due at once, to drain it now rather than
// on its back-off schedule.
//
// Per target at most two POSTs are in flight: one fresh batch and one retry. One fresh POST at
// a time keeps fresh batches in the order their events were emitted and caps what a receiver
// sees from one target; one retry at a time means a dead receiver costs one retry request at a
// time however large the backlog, and a receiver coming back is drained one batch after
// another instead of being hit by the whole backlog at once.
//
// # Ordering
//
// Events reach a receiver in the order they were emitted until a POST fails: a repeated batch
// arrives after fresh batches delivered meanwhile. Pusher promises no order either; its docs
// give every body a time_ms, when the webhook was made, for receivers to detect delayed ones.
// A receiver that needs the order sorts by time_ms, not by arrival: batches are made in the
// order of their events and a repeat keeps its first time_ms, so time_ms orders batches (and
// within a batch the events are in order).
//
// # Bounds, logs, metrics
//
// A target holds at most queue_limit events: queued, in a POST, or in the retry backlog. Beyond
// it new events are dropped. Drops, POST failures and batches given up are each logged at WARN
// at most once per target per 10 s, with the count since the previous line; a target answering
// again after such a line logs one INFO line. The metrics are herald_webhook_* in telemetry.
//
// Every wait (batch window, back-off, retry_for, POST timeout, log interval) runs on
// Deps.Clock, so tests drive them with a fake clock. Flush sends what is queued without waiting
// for batch windows and retries the backlog at once, waits for every queue to empty, then
// stops; Close stops at once. Neither leaves a goroutine behind.
package webhooks
