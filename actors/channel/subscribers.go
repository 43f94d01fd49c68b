package channel

import "github.com/asynkron/protoactor-go/actor"

// subscribers are a channel's sockets across the cluster: per node, the node's fan-out actor and
// how many of its sockets are subscribed (a publish sends one message per node); per socket, its
// node and, on presence channels, its user.
type subscribers struct {
	nodes   map[string]*nodeSubscribers // node key (the fan-out's node.PIDKey) -> that node's part
	sockets map[string]subscriber       // socket id -> where it is
}

type nodeSubscribers struct {
	fanout *actor.PID
	count  int
}

type subscriber struct {
	node   string
	userID string
}

func newSubscribers() *subscribers {
	return &subscribers{nodes: map[string]*nodeSubscribers{}, sockets: map[string]subscriber{}}
}

func (s *subscribers) count() int { return len(s.sockets) }

func (s *subscribers) has(socketID string) bool { _, ok := s.sockets[socketID]; return ok }

// hasNode reports whether the node whose key is nodeKey has a socket on the channel.
func (s *subscribers) hasNode(nodeKey string) bool { _, ok := s.nodes[nodeKey]; return ok }

// add counts socketID on the node of fanout (nodeKey names it) and reports whether it is new.
func (s *subscribers) add(socketID, nodeKey string, fanout *actor.PID, userID string) bool {
	if s.has(socketID) {
		return false
	}
	n := s.nodes[nodeKey]
	if n == nil {
		n = &nodeSubscribers{fanout: fanout}
		s.nodes[nodeKey] = n
	}
	n.count++
	s.sockets[socketID] = subscriber{node: nodeKey, userID: userID}
	return true
}

// remove drops socketID and returns where it was.
func (s *subscribers) remove(socketID string) (subscriber, bool) {
	sub, ok := s.sockets[socketID]
	if !ok {
		return sub, false
	}
	delete(s.sockets, socketID)
	if n := s.nodes[sub.node]; n != nil {
		if n.count--; n.count <= 0 {
			delete(s.nodes, sub.node)
		}
	}
	return sub, true
}

// removeAddress drops every socket of the member at address (it is gone) and returns the node
// keys it had.
func (s *subscribers) removeAddress(address string) []string {
	var gone []string
	for key, n := range s.nodes {
		if n.fanout.Address == address {
			gone = append(gone, key)
			delete(s.nodes, key)
		}
	}
	for _, key := range gone {
		for id, sub := range s.sockets {
			if sub.node == key {
				delete(s.sockets, id)
			}
		}
	}
	return gone
}

// fanouts calls f with each node's fan-out actor.
func (s *subscribers) fanouts(f func(*actor.PID)) {
	for _, n := range s.nodes {
		f(n.fanout)
	}
}
