// Package actors is herald's actor system (proto.actor). It owns the state of every Pusher app
// on this node and the rules applied to it:
//
//   - connection: one per socket. Its subscriptions, signed-in user and client-event rate limit.
//   - channel grain: one per app + channel, the one authority for the channel: which nodes have
//     subscribers and how many, and the presence roster. It encodes each published event once.
//   - node fan-out: one per channel per node with local subscribers; writes each frame the grain
//     sends to every local socket, skipping the excluded one.
//   - user grain: one per signed-in user: server-to-user events, terminate, watchlists.
//   - webhooks: one dispatcher per app per node; batches, signs (X-Pusher-Key /
//     X-Pusher-Signature) and retries with back-off the webhooks that the grains produce, with a
//     bounded queue per target. A grain produces each webhook once for the whole cluster.
//   - node actor: one per node (herald-node); answers other members about its sockets.
//
// Channel grains are found through a grainLocator, so the same actor runs as a local actor on
// one node and as a proto.actor cluster grain across many. Messages that may cross nodes are
// protobuf, in package messages. The transport talks to this package through Engine, and gives
// it each socket as a Sink: the actors never touch the network.
package actors
