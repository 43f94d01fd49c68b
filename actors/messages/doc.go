// Package messages holds every message herald's actors exchange: the protobuf ones in
// messages.proto (they may cross nodes, so proto.actor's remote must carry them) and the Go ones
// in local.go (they carry a socket, so they never leave their node). Timer messages an actor
// schedules to itself are private to its package and listed last.
//
// Every message, who sends it to whom, and why:
//
//	message             sender -> receiver                  why
//	------------------  ----------------------------------  ------------------------------------------
//	ClientSubscribe     transport -> connection             the socket's pusher:subscribe
//	ClientUnsubscribe   transport -> connection             the socket's pusher:unsubscribe
//	ClientEvent         transport -> connection             the socket's client- event
//	ClientSignin        transport -> connection             the socket's pusher:signin
//	SocketClosed        transport -> connection             the socket is gone: leave everything, stop
//	Join                connection -> fan-out (request)     add a local socket to a channel
//	Leave               connection -> fan-out               remove a local socket from a channel
//	Subscribed          fan-out -> connection               the grain counted the socket (client events allowed)
//	SubscribeRefused    fan-out -> connection               the grain refused it: send subscription_error
//	Subscribe           fan-out -> channel grain (request)  count a socket of the fan-out's node
//	SubscribeResult     channel grain -> fan-out            the answer: succeeded frame, cache, roster ids, or refusal
//	Unsubscribe         fan-out -> channel grain            a socket of the node left
//	Publish             engine (HTTP API) -> channel grain  an event to publish (request: answered by PublishAck)
//	                    connection -> channel grain         a client event (data_is_json; a request too,
//	                                                        sent again until acknowledged)
//	PublishAck          channel grain -> engine             the grain took the event and every node with
//	                                                        subscribers has it; the API answers 200
//	                    channel grain -> connection         the grain took the client event publish_id
//	Deliver             channel grain -> fan-out            one frame for every local subscriber but one
//	                                                        (a publish: a request to a fan-out on a third node)
//	Written             fan-out -> channel grain            that fan-out took the publish: the grain answers
//	                                                        PublishAck once every third node did
//	ChannelInfoRequest  engine -> channel grain             counts and members for the HTTP API
//	                    fan-out -> channel grain            a wake-up after a topology change (grain rebuilds)
//	ChannelInfo         channel grain -> requester          the answer
//	NodeStateRequest    channel grain -> node actor         a re-activated grain asks each member for its part
//	                    node actor -> fan-out (forwarded)
//	NodeState           fan-out or node actor -> grain      that member's sockets, roster mirror and view of the
//	                                                        members (a grain whose own view is behind asks the
//	                                                        ones it lacks), and the replica it keeps
//	HandOver            node actor -> a stale local grain   another member rebuilds the grain: stop acting now
//	HandedOver          stale grain -> its node actor       its state and pending checks, for the NodeState answer
//	ListChannelsRequest engine -> every node actor          GET /channels: the node's occupied channels
//	ListChannelsResponse node actor -> engine               the answer
//	ReplicaUpdate       channel grain -> node actor         what no survivor could rebuild (cache, pending
//	                    (of the member next in line)        checks, roster ids), kept where the grain goes next
//	ChannelReplica      node actor -> grain (in NodeState)  that copy, for the grain's next activation
//	NodeLeft            node actor -> every local grain     a member is gone: drop its sockets, once
//	TopologyChanged     node actor -> every local fan-out   resend pending subscribes, wake the grain
//	                    node actor -> every local grain     the member next in line may have changed
//	ChannelInfoRequest  node actor -> channel grain         wake a grain whose member died, if its replica
//	                                                        here has members or checks to announce
//	NodeConnections     gossip (not a message to an actor)  a member's sockets per app, for max_connections
//	UserSocketJoined    connection -> user grain (request)  a socket signed in as the user
//	UserSocketLeft      connection -> user grain            that socket closed
//	Watch, Unwatch      connection -> user grain            start or stop watching a user (watchlist)
//	WatchlistEvent      user grain -> connection            a watched user came online or went offline
//	UserPublish         engine -> user grain                an event to #server-to-user-{id}
//	TerminateUser       engine -> user grain                terminate_connections
//	SocketDeliver       user grain -> connection            a frame for that one socket
//	SocketTerminate     user grain -> connection            close the socket with a code
//	ConsoleWatch        console actor -> every member's     a debug console opened on the app: record its
//	                    console actor                       events and send them to the watcher
//	ConsoleUnwatch      console actor -> every member's     the node's last console of the app closed
//	                    console actor
//	ConsoleRecords      console actor -> watching console   a batch of the member's events of the app
//	                    actor (request)
//	ConsoleAck          watching console actor -> sender    the batch was taken: the next one may go
//
// Timers (on the node's clock, private to their package): the channel grain's countTick
// (subscription_count), vacateCheck and removalCheck (Pusher's webhook delay) and idleCheck;
// the user grain's idleCheck; the connection's signinDeadline. The console actor's openViewer
// and closeViewer (Engine.Watch, ConsoleViewer.Close) and wake (the node's tap holds events) are
// private to actors/console too. On the real clock (they wait for the cluster, as request
// timeouts do): the grain's rebuildDeadline, the connection's resendCheck and resendSoon (client
// events not acknowledged), the fan-out's wakeRetry.
package messages
