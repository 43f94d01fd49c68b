package channel

import "time"

// webhookDebouncer applies Pusher's rule to the occupancy and membership webhooks: a
// channel_vacated or member_removed waits the webhook delay and is dropped when the channel or
// the member is back by then, and the channel_occupied or member_added of that return is then
// not sent either. So a page reload (leave and join within the delay) sends no webhook at all.
//
// It decides; the grain schedules the checks on its clock and sends what it decides. Each pending
// check carries a generation: a check whose generation was superseded is stale.
type webhookDebouncer struct {
	occupiedSent bool      // channel_occupied sent and no channel_vacated since
	vacateGen    int       // generation of the pending vacate check, 0 when none
	vacateAt     time.Time // when it is due
	removals     map[string]pendingRemoval
	gen          int
}

// pendingRemoval is a user's member_removed check: its generation and when it is due.
type pendingRemoval struct {
	gen int
	at  time.Time
}

func newWebhookDebouncer() *webhookDebouncer {
	return &webhookDebouncer{removals: map[string]pendingRemoval{}}
}

// occupied is the first subscriber: true when channel_occupied is to be sent. It is not when the
// channel was vacated less than the delay ago (that channel_vacated is dropped instead).
func (d *webhookDebouncer) occupied() bool {
	if d.vacateGen != 0 {
		d.vacateGen = 0
		return false
	}
	if d.occupiedSent {
		return false
	}
	d.occupiedSent = true
	return true
}

// resumeOccupied records that an earlier activation of the grain announced the channel.
func (d *webhookDebouncer) resumeOccupied() { d.occupiedSent = true }

// vacated is the last subscriber leaving: the generation of the vacate check to schedule (due
// at), or 0 when there is nothing to check (channel_occupied was never sent, or a check is
// pending).
func (d *webhookDebouncer) vacated(at time.Time) int {
	if !d.occupiedSent || d.vacateGen != 0 {
		return 0
	}
	d.gen++
	d.vacateGen, d.vacateAt = d.gen, at
	return d.gen
}

// vacateDue is the check of generation gen coming due: true when channel_vacated is to be sent.
func (d *webhookDebouncer) vacateDue(gen int, empty bool) bool {
	if gen != d.vacateGen || !empty {
		return false
	}
	d.vacateGen, d.occupiedSent = 0, false
	return true
}

// memberAdded is a user's first subscription: true when member_added is to be sent, false when
// the user left less than the delay ago (that member_removed is dropped instead).
func (d *webhookDebouncer) memberAdded(userID string) bool {
	if _, back := d.removals[userID]; back {
		delete(d.removals, userID)
		return false
	}
	return true
}

// memberRemoved is a user's last subscription ending: the generation of its check to schedule
// (due at).
func (d *webhookDebouncer) memberRemoved(userID string, at time.Time) int {
	d.gen++
	d.removals[userID] = pendingRemoval{gen: d.gen, at: at}
	return d.gen
}

// removalDue is userID's check of generation gen coming due: true when member_removed is to be
// sent (the user is still not present).
func (d *webhookDebouncer) removalDue(userID string, gen int, present bool) bool {
	if p, ok := d.removals[userID]; !ok || p.gen != gen {
		return false
	}
	delete(d.removals, userID)
	return !present
}

// removalPending reports whether userID's member_removed check is scheduled.
func (d *webhookDebouncer) removalPending(userID string) bool {
	_, ok := d.removals[userID]
	return ok
}

// pending reports whether a check is scheduled: the grain must not stop before it comes due.
func (d *webhookDebouncer) pending() bool { return d.vacateGen != 0 || len(d.removals) > 0 }

// removalsDue are the pending member_removed checks: user id -> when due, in Unix nanoseconds.
func (d *webhookDebouncer) removalsDue() map[string]int64 {
	if len(d.removals) == 0 {
		return nil
	}
	out := make(map[string]int64, len(d.removals))
	for id, p := range d.removals {
		out[id] = p.at.UnixNano()
	}
	return out
}

// vacateDueAt is when the pending channel_vacated check is due, zero when none is.
func (d *webhookDebouncer) vacateDueAt() time.Time {
	if d.vacateGen == 0 {
		return time.Time{}
	}
	return d.vacateAt
}
