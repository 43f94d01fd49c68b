package actors

import (
	"log/slog"
	"strings"
	"sync"

	protocluster "github.com/asynkron/protoactor-go/cluster"

	"github.com/herald-io/herald/telemetry"
)

// protoActorLogger is the logger proto.actor gets: herald's, with its levels rewritten by
// levels.
func protoActorLogger(logger *slog.Logger, levels *protoActorLevels) *slog.Logger {
	return slog.New(telemetry.RewriteLevels(logger.Handler(), levels.level)).With("component", "protoactor")
}

// protoActorLevels decides the level a proto.actor record is written at. proto.actor logs each
// step of its start and stop at INFO (about 40 lines a member), and as ERROR or WARN some things
// that are the normal life of a cluster: a seed not up yet, gossip from a member not known yet
// or that did not answer in time (seen on a loaded machine as members join), the streams to a
// member closing as it leaves, its own health server closing at shutdown. A user reading ERROR
// there looks for a fault that is not one; herald says what matters itself, at INFO, once (a
// member joined, a member left). So all of these are DEBUG; an ERROR or WARN that is not one of
// them keeps its level: the remote's errors about a member that dies are ERROR until the
// membership has dropped it.
type protoActorLevels struct {
	left sync.Map // address -> struct{}: members that left the topology (and did not come back)
}

// topology follows which members have left, for the remote's errors about them.
func (l *protoActorLevels) topology(t *protocluster.ClusterTopology) {
	for _, m := range t.Left {
		l.left.Store(m.Address(), struct{}{})
	}
	for _, m := range t.Joined {
		l.left.Delete(m.Address())
	}
}

func (l *protoActorLevels) level(r slog.Record) slog.Level {
	if r.Level < slog.LevelWarn {
		return slog.LevelDebug
	}
	switch r.Message {
	case
		// automanaged: a seed that does not answer (not started yet, or stopped); the
		// membership, logged by herald, says who is there.
		"Bad connection to the node health status", "Failure reaching nodes",
		"Couldn't request node health status",
		// gossip from a member this one has not seen join yet, and gossip to a member that did
		// not answer in time; gossip is retried, and a member that is gone leaves the
		// membership, which herald logs.
		"Got gossip request from unknown member", "Got gossip request from member, but no state was found",
		"sendGossipForMember failed",
		// the remote's streams, closed as a member leaves (by this side or the other).
		"EndpointReader failed to send disconnection message",
		"EndpointWriter error when closing the stream", "EndpointWriter error when closing the client conn":
		return slog.LevelDebug
	case "EndpointWriter lost connection", "EndpointWriter failed to connect", "EndpointWriter failed to create receive stream":
		// Canceled: closed on purpose by this side. A member that has left (it announced its
		// leave, or the membership dropped it) is expected to be gone. Anything else, a member
		// dying under a connection, keeps its level.
		if attrContains(r, "error", "code = Canceled") {
			return slog.LevelDebug
		}
		if addr, ok := attr(r, "address"); ok {
			if _, gone := l.left.Load(addr); gone {
				return slog.LevelDebug
			}
		}
	case "Automanaged server stopping..!":
		// Logged as ERROR on every shutdown; a port it could not bind keeps the level.
		if attrContains(r, "error", "Server closed") {
			return slog.LevelDebug
		}
	}
	return r.Level
}

func attr(r slog.Record, key string) (string, bool) {
	var v string
	found := false
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v, found = a.Value.String(), true
			return false
		}
		return true
	})
	return v, found
}

func attrContains(r slog.Record, key, substr string) bool {
	v, ok := attr(r, key)
	return ok && strings.Contains(v, substr)
}

// logTopology writes one INFO line per member that joined or left, as this node sees it. A
// node that is leaving sees the others go: that is not news, so nothing is written then.
func (e *Engine) logTopology(t *protocluster.ClusterTopology) {
	e.logLevels.topology(t)
	if e.stopped.Load() {
		return
	}
	for _, m := range t.Joined {
		e.n.Log.Info("cluster member joined", "member", m.Address(), "this_node", m.Id == e.system.ID, "members", len(t.Members))
	}
	for _, m := range t.Left {
		e.n.Log.Info("cluster member left", "member", m.Address(), "members", len(t.Members))
	}
}
