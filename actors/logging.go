package actors

import (
	"log/slog"
	"strings"

	protocluster "github.com/asynkron/protoactor-go/cluster"

	"github.com/herald-io/herald/telemetry"
)

// protoActorLogger is the logger proto.actor gets: herald's, with its levels rewritten by
// protoActorLevel.
func protoActorLogger(logger *slog.Logger) *slog.Logger {
	return slog.New(telemetry.RewriteLevels(logger.Handler(), protoActorLevel)).With("component", "protoactor")
}

// protoActorLevel is the level a proto.actor record is written at. proto.actor logs each step
// of its start and stop at INFO (about 40 lines a member), and as ERROR or WARN some things that
// are the normal life of a cluster: a seed not up yet, gossip from a member not known yet, the
// streams to a member closing as it leaves, its own health server closing at shutdown, a gossip
// round that timed out (seen on a loaded machine as members join). A user
// reading ERROR there looks for a fault that is not one; herald says what matters itself, at
// INFO, once (a member joined, a member left). So all of these are DEBUG; an ERROR or WARN that
// is not one of them keeps its level.
func protoActorLevel(r slog.Record) slog.Level {
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
		// not answer in time (one just joining, under load); gossip is retried, and a member that
		// is gone leaves the membership, which herald logs.
		"Got gossip request from unknown member", "Got gossip request from member, but no state was found",
		"sendGossipForMember failed",
		// the remote's streams, closed as a member leaves (by this side or the other).
		"EndpointReader failed to send disconnection message",
		"EndpointWriter error when closing the stream", "EndpointWriter error when closing the client conn":
		return slog.LevelDebug
	case "EndpointWriter lost connection":
		// Canceled: closed on purpose, as a member leaves; anything else (a member that died)
		// keeps its level.
		if attrContains(r, "error", "code = Canceled") {
			return slog.LevelDebug
		}
	case "Automanaged server stopping..!":
		// Logged as ERROR on every shutdown; a port it could not bind keeps the level.
		if attrContains(r, "error", "Server closed") {
			return slog.LevelDebug
		}
	}
	return r.Level
}

func attrContains(r slog.Record, key, substr string) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			found = strings.Contains(a.Value.String(), substr)
			return false
		}
		return true
	})
	return found
}

// logTopology writes one INFO line per member that joined or left, as this node sees it. A
// node that is leaving sees the others go: that is not news, so nothing is written then.
func (e *Engine) logTopology(t *protocluster.ClusterTopology) {
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
