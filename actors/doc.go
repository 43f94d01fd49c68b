// Package actors is herald's actor system (proto.actor): it owns the state of every Pusher app
// on this node and the rules applied to it. Each concept has a room of its own:
//
//	node/        what every actor of a node shares (node.Node): clock, apps, grain locator,
//	             registries, webhook sink; the app registry; nodetest for tests
//	messages/    every message between actors, with the table of who sends what to whom
//	connection/  the connection actor: one per socket; subscriptions, sign-in, client events, rates
//	fanout/      the node fan-out actor: one per channel per node; writes each frame to local sockets
//	channel/     the channel grain: one per app + channel in the cluster; subscribers per node,
//	             presence roster, cache, webhooks, subscription_count, rebuild
//	user/        the user grain: signed-in sockets of a user, watchlists, server-to-user events
//	cluster/     finding grains and members: local and cluster locators, join and leave, the node
//	             actor, connection-count gossip; clustertest for in-process cluster tests
//	console/     the debug console's console actor: one per node; streams a watched app's events
//	             (recorded by node.Tap) to every node with a console open on it
//
// This package is the Engine: it builds a node's context, starts its actors (and joins the
// cluster when configured), and is the narrow API the transport uses (connect, publish, channel
// queries, users). Actors never touch the network: the transport owns sockets and HTTP, and
// webhook events leave through node.WebhookSink to transport/webhooks.
package actors
