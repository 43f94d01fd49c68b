// Package bench is herald's load harness. It speaks only the public Pusher protocol (through
// bench/pusherclient), so every scenario runs against herald, soketi, the bench/baseline
// reference or any other Pusher server: connect storms, one-channel fan-out, many small channels
// with batch triggers, presence joins and churn, users in many presence rooms (with an exact
// check of every member's view after each phase), and client events between pairs of sockets. A
// target may be a cluster: several WebSocket URLs (sockets spread round-robin) and several PIDs.
//
// Every scenario is bounded in count and time and targets loopback only. Around the measured
// phase it samples the server's CPU time and RSS from /proc, because on a shared machine the
// load generator and the server use the same cores: deliveries per server CPU-second is the
// figure that compares servers fairly. Results render as a Markdown table, JSON and a PNG chart
// of the latency CDFs.
package bench
