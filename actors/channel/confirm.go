package channel

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/herald-io/herald/actors/messages"
	"github.com/herald-io/herald/actors/node"
)

// unconfirmed are the publishes the grain delivered but has not answered yet: the publisher's
// PublishAck (the HTTP API's 200, a client event's confirmation) waits until every fan-out on a
// third node, one neither the grain's nor the publisher's, confirmed it took the frame
// (messages.Written). The grain's Deliver to such a node and its answer to the publisher leave
// on different remote streams, so a grain's member killed between the two flushes would leave an
// answered publish that a node never got. The other nodes need no confirmation: the grain's own
// fan-out is in the grain's process (a member that dies takes its sockets with it), and the
// publisher's node gets the Deliver before the answer, on one stream, whose order proto.actor
// keeps. On one node nothing waits.
//
// A publish sent again while it waits (its requester's attempt timed out: a Deliver or a
// confirmation was lost with a member that restarted) goes again to the fan-outs that have not
// confirmed; a fan-out writes each publish id once and confirms every time. A fan-out is waited
// for no longer once its node has no socket on the channel left (it has nothing to write), its
// member left, or its member cannot be reached (proto.actor's dead letter naming it).
type unconfirmed struct {
	byID    map[string]*pendingPublish
	keep    time.Duration
	sweepAt time.Time // when the publishes older than keep are let go next
}

type pendingPublish struct {
	id      string
	deliver *messages.Deliver
	waiting []*actor.PID // fan-outs that have not confirmed
	sender  *actor.PID   // who to answer: the latest request for the publish
	since   time.Time
}

// newUnconfirmed lets a publish go unanswered after keep, and at most twice that: its publisher
// stopped asking long before (node.Timing.PublishIDsFor).
func newUnconfirmed(keep time.Duration) *unconfirmed {
	return &unconfirmed{byID: map[string]*pendingPublish{}, keep: keep}
}

// wait records publish d, delivered at now as a request to the fan-outs in waiting, to be
// answered to sender once they all confirmed.
func (u *unconfirmed) wait(d *messages.Deliver, waiting []*actor.PID, sender *actor.PID, now time.Time) {
	if !now.Before(u.sweepAt) {
		// Once per keep: a publish outlives it only when a confirmation was lost and its
		// publisher gave up, so the map is small, and a sweep costs little.
		for id, p := range u.byID {
			if now.Sub(p.since) >= u.keep {
				delete(u.byID, id)
			}
		}
		u.sweepAt = now.Add(u.keep)
	}
	u.byID[d.PublishId] = &pendingPublish{id: d.PublishId, deliver: d, waiting: waiting, sender: sender, since: now}
}

// get is the publish id if it still waits.
func (u *unconfirmed) get(id string) *pendingPublish { return u.byID[id] }

// confirmed takes fanout's confirmation of publish id and returns the publish when it was the
// last one awaited: its sender is answered.
func (u *unconfirmed) confirmed(id string, fanout *actor.PID) *pendingPublish {
	p := u.byID[id]
	if p == nil || !p.drop(func(f *actor.PID) bool { return f.Address == fanout.Address && f.Id == fanout.Id }) {
		return nil
	}
	return u.finish(p)
}

// fanoutGone stops waiting for the fan-out whose node.PIDKey is key and returns the publishes
// it was the last one awaited for.
func (u *unconfirmed) fanoutGone(key string) []*pendingPublish {
	if len(u.byID) == 0 {
		return nil
	}
	return u.dropWhere(func(f *actor.PID) bool { return node.PIDKey(f) == key })
}

// memberGone stops waiting for the fan-outs of the member at address, and returns the
// publishes nothing is awaited for any more.
func (u *unconfirmed) memberGone(address string) []*pendingPublish {
	if len(u.byID) == 0 {
		return nil
	}
	return u.dropWhere(func(f *actor.PID) bool { return f.Address == address })
}

// abandon forgets every publish that waits and returns them: the grain stops, and their senders
// ask the one in charge next.
func (u *unconfirmed) abandon() []*pendingPublish {
	var all []*pendingPublish
	for _, p := range u.byID {
		all = append(all, p)
	}
	clear(u.byID)
	return all
}

func (u *unconfirmed) dropWhere(gone func(*actor.PID) bool) []*pendingPublish {
	var finished []*pendingPublish
	for _, p := range u.byID {
		if p.drop(gone) && u.finish(p) != nil {
			finished = append(finished, p)
		}
	}
	return finished
}

// finish forgets p when nothing is awaited any more and returns it then.
func (u *unconfirmed) finish(p *pendingPublish) *pendingPublish {
	if len(p.waiting) > 0 {
		return nil
	}
	delete(u.byID, p.id)
	return p
}

// drop removes the awaited fan-outs gone says are gone and reports whether any was.
func (p *pendingPublish) drop(gone func(*actor.PID) bool) bool {
	before := len(p.waiting)
	kept := p.waiting[:0]
	for _, f := range p.waiting {
		if !gone(f) {
			kept = append(kept, f)
		}
	}
	p.waiting = kept
	return len(kept) < before
}

// awaitsConfirmation reports whether a publish's Deliver to fanout must be confirmed before the
// grain at grain answers sender (see unconfirmed).
func awaitsConfirmation(fanout, grain, sender *actor.PID) bool {
	return sender != nil && fanout.Address != grain.Address && fanout.Address != sender.Address
}
