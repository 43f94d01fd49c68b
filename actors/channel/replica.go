package channel

import (
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/herald-io/herald/actors/messages"
	"github.com/herald-io/herald/actors/node"
	"github.com/herald-io/herald/protocol"
)

// replication keeps what no surviving node could rebuild of the grain (the cache channel's last
// event, the pending channel_vacated and member_removed checks, the roster's user ids) on the
// member next in line for the grain (node.Node.Backup): the member that owns the grain if this
// one dies, so the next activation usually finds it on its own node. Every change of that state
// sends one ReplicaUpdate there, from the grain, without waiting for an answer: a publish to a
// cache channel costs one more message, any other publish nothing. When the member next in line
// changes (a member joined or left), the whole state goes to the new one and the old one drops
// its copy.
type replication struct {
	backup  string // address of the member that keeps the replica, "" when none does
	version uint64 // of the last update sent; a new activation goes on from the highest found
}

// nextVersion is the version of the next update: above the last one sent and above the clock's
// nanoseconds, so that an activation that found no replica (its holder died too) still writes
// versions above any stale copy an earlier activation left on a member its rebuild did not hear
// from, and a later rebuild never prefers that copy.
func (r *replication) nextVersion(now time.Time) uint64 {
	r.version = max(r.version+1, uint64(now.UnixNano()))
	return r.version
}

// replicate sends u, completed with the grain's current checks, to the member next in line; a
// member new in that place gets the whole state instead.
func (g *Grain) replicate(ctx actor.Context, u *messages.ReplicaUpdate) {
	if g.rebuild != nil {
		return // finishRebuild sends the whole state
	}
	backup := g.n.Backup(node.ChannelKind, g.key())
	if backup != g.rep.backup {
		old := g.rep.backup
		g.rep.backup = backup
		if old != "" && slices.Contains(g.n.Members(), old) {
			ctx.Send(node.NodeActor(old), &messages.ReplicaUpdate{AppId: g.app.ID, Channel: g.ch.Name, Drop: true})
		}
		u = g.snapshot()
	} else if u.Whole {
		u = g.snapshot() // the member keeping it restarted, and lost what it kept
	}
	if backup == "" {
		return
	}
	ctx.Send(node.NodeActor(backup), g.stamp(ctx, u))
}

// stamp completes u with what every update carries: the grain, its activation's member, the next
// version, and the pending checks.
func (g *Grain) stamp(ctx actor.Context, u *messages.ReplicaUpdate) *messages.ReplicaUpdate {
	u.AppId, u.Channel, u.Owner, u.Version = g.app.ID, g.ch.Name, ctx.ActorSystem().Address(), g.rep.nextVersion(g.n.Clock.Now())
	u.Occupied = g.hooks.occupiedSent
	if at := g.hooks.vacateDueAt(); !at.IsZero() {
		u.VacateDueUnixNano = at.UnixNano()
	}
	u.RemovalsDue = g.hooks.removalsDue()
	return u
}

// handOver is another member rebuilding the grain: this activation is stale (its member's view of
// the owner is behind). It stops acting at once, before any message it has queued (a webhook
// check coming due), and its node actor answers the rebuild with its state, newer than the
// replica: the rebuilding one sends each pending check, and none this one sent, so that a
// webhook never goes out twice from two activations.
func (g *Grain) handOver(ctx actor.Context, m *messages.HandOver) {
	done := &messages.HandedOver{HandOver: *m}
	if g.app != nil && !g.refused {
		g.n.LocalGrains.Remove(node.ChannelKind, g.key(), ctx.Self()) // a request asked again finds none
		if g.rebuild == nil {
			done.State = g.stamp(ctx, g.snapshot())
		}
	}
	g.refused = true
	ctx.Stop(ctx.Self())
	ctx.Send(node.NodeActor(ctx.ActorSystem().Address()), done)
}

// snapshot is the whole replicated state but the checks, which replicate adds to every update.
func (g *Grain) snapshot() *messages.ReplicaUpdate {
	u := &messages.ReplicaUpdate{Whole: true}
	if frame := g.last.get(g.n.Clock.Now()); frame != nil {
		u.CachedFrame, u.CacheExpiresUnixNano = frame, g.last.expires.UnixNano()
	}
	if g.roster != nil {
		u.MembersAdded = g.roster.userIDs()
	}
	return u
}

// dropReplica tells the member that keeps the replica that the grain stopped with nothing to keep.
func (g *Grain) dropReplica(ctx actor.Context) {
	if g.rep.backup != "" {
		ctx.Send(node.NodeActor(g.rep.backup), &messages.ReplicaUpdate{AppId: g.app.ID, Channel: g.ch.Name, Drop: true})
		g.rep.backup = ""
	}
}

// restore takes over, after a rebuild, what the previous activation had replicated: its cached
// event, the members no surviving node knows (they are lost with the dead member, and removed
// like the ones survivors knew), and the checks it had pending, due when they were due.
func (g *Grain) restore(ctx actor.Context, r *rebuild) {
	rep := r.replica
	if rep == nil {
		return
	}
	g.rep.version = rep.Version
	now := g.n.Clock.Now()
	if g.ch.Cache && len(rep.CachedFrame) > 0 && g.last.get(now) == nil {
		g.last.frame, g.last.expires = rep.CachedFrame, time.Unix(0, rep.CacheExpiresUnixNano)
	}
	for _, id := range rep.Members {
		r.knownMembers[id] = true
	}
	if g.roster != nil {
		for id, due := range rep.RemovalsDue {
			if !g.roster.has(id) && !r.knownMembers[id] {
				at := time.Unix(0, due)
				g.n.After(max(at.Sub(now), 0), ctx.Self(), removalCheck{userID: id, gen: g.hooks.memberRemoved(id, at)})
			}
		}
	}
	if rep.Occupied && g.subs.count() == 0 {
		// Announced, and now empty: its last subscribers left before the move, or died with the
		// member. channel_vacated comes when it was due, or a delay from now.
		g.hooks.resumeOccupied()
		if rep.VacateDueUnixNano != 0 {
			at := time.Unix(0, rep.VacateDueUnixNano)
			g.n.After(max(at.Sub(now), 0), ctx.Self(), vacateCheck{gen: g.hooks.vacated(at)})
		} else {
			g.subscribersLeft(ctx)
		}
	}
}

// resumeRemovals schedules the member_removed checks of the removals the replica never heard of
// (rebuild.unheard).
func (g *Grain) resumeRemovals(ctx actor.Context, r *rebuild) {
	if g.roster == nil || !g.app.Settings().WantsWebhook(protocol.WebhookMemberRemoved) {
		return
	}
	now := g.n.Clock.Now()
	skip := func(id string) bool { return g.roster.has(id) || g.hooks.removalPending(id) }
	for id, at := range r.unheard(skip, now, g.n.Timing.WebhookDelay) {
		g.n.After(max(at.Sub(now), 0), ctx.Self(), removalCheck{userID: id, gen: g.hooks.memberRemoved(id, at)})
	}
}
