package bench

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/herald-io/herald/bench/pusherclient"
)

func TestRoomsLayout(t *testing.T) {
	tests := []struct {
		users, rooms, k int
		sizes           []int // members per room
	}{
		{20, 4, 2, []int{10, 10, 10, 10}},
		{15, 3, 2, []int{10, 10, 10}},
		{5, 1, 1, []int{5}},
		{7, 3, 3, []int{7, 7, 7}}, // every user in every room
		{10, 4, 1, []int{3, 3, 2, 2}},
	}
	for _, tt := range tests {
		cfg := DefaultConfig()
		cfg.Users, cfg.Rooms, cfg.RoomsPerUser = tt.users, tt.rooms, tt.k
		run, _ := newRoomsRun(&runner{res: &Result{}, runID: "x"}, cfg)
		for room, m := range run.members {
			if len(m) != tt.sizes[room] {
				t.Errorf("%d users, %d rooms, k %d: room %d has %d members, want %d", tt.users, tt.rooms, tt.k, room, len(m), tt.sizes[room])
			}
		}
		for u := range tt.users {
			seen := map[int]bool{}
			for j := range tt.k {
				room := run.roomOf(u, j)
				if seen[room] || run.jOf(u, room) != j || run.memberIndex(room, uint64(u)) < 0 {
					t.Errorf("user %d room %d (j %d): jOf %d", u, room, j, run.jOf(u, room))
				}
				seen[room] = true
			}
		}
	}
}

// The check must see what a wrong server would do: a lost member_added, a lost member_removed,
// a duplicate, an event for a stranger. Real sockets (to the baseline) stand for the members;
// the frames are fed to them by hand.
func TestRoomsCheckFindsWrongViews(t *testing.T) {
	target := startBaseline(t, "baseline")
	cfg := tinyConfig()
	cfg.Users, cfg.Rooms, cfg.RoomsPerUser = 3, 1, 1
	r := &runner{t: target, cfg: cfg, runID: "t", res: &Result{}}
	run, socks := newRoomsRun(r, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for u, s := range socks {
		c, err := pusherclient.Dial(ctx, target.wsURL(u))
		if err != nil {
			t.Fatal(err)
		}
		s.client = c
		run.userState[u].sock = s
	}
	defer run.closeAll()

	ch := run.channel(0)
	roster := func(ids ...string) []byte {
		return []byte(`{"event":"pusher_internal:subscription_succeeded","channel":"` + ch +
			`","data":"{\"presence\":{\"ids\":[` + strings.Join(ids, ",") + `],\"hash\":{},\"count\":1}}"}`)
	}
	member := func(event, id string) []byte {
		return []byte(`{"event":"pusher_internal:` + event + `","channel":"` + ch + `","data":"{\"user_id\":\"` + id + `\"}"}`)
	}
	now := time.Now()
	// Users 0, 1, 2 are all in the room. 0 sees everyone; 1 never got member_added for 2;
	// 2 got member_added for 1 twice, then a member_removed for 1 (so misses 1) and one for an
	// unknown user 9.
	socks[0].onRaw(roster(`\"0\"`), now)
	socks[0].onRaw(member("member_added", "1"), now)
	socks[0].onRaw(member("member_added", "2"), now)
	socks[1].onRaw(roster(`\"0\"`, `\"1\"`), now)
	socks[2].onRaw(roster(`\"0\"`, `\"1\"`, `\"2\"`), now)
	socks[2].onRaw(member("member_added", "1"), now)
	socks[2].onRaw(member("member_removed", "1"), now)
	socks[2].onRaw(member("member_removed", "1"), now)
	socks[2].onRaw(member("member_removed", "9"), now)
	// A frame of another channel is not the room's.
	if socks[0].onRaw([]byte(`{"event":"pusher_internal:member_added","channel":"presence-other","data":"{}"}`), now) {
		t.Error("a frame of another channel was taken")
	}

	c := run.check()
	if c.views != 3 || c.wrong != 2 || c.missing != 2 || c.extra != 0 {
		t.Fatalf("check %+v, want 3 views, 2 wrong, 2 entries missing", c)
	}
	if !strings.Contains(c.firstWrong, "user 1 in "+ch+" misses users [2]") {
		t.Errorf("first wrong view: %s", c.firstWrong)
	}
	if run.dupAdded.Load() != 1 || run.dupRem.Load() != 1 || run.foreign.Load() != 1 {
		t.Errorf("duplicate member_added %d, member_removed of absent %d, foreign %d; want 1 each",
			run.dupAdded.Load(), run.dupRem.Load(), run.foreign.Load())
	}
	var res Result
	c.dupAdded, c.dupRem, c.foreign = 1, 1, 1
	c.report(&res, "check")
	if res.Extra["check: WRONG VIEWS"] != 2 || len(res.Notes) != 1 || !strings.Contains(res.Notes[0], "2 of 3 views wrong") {
		t.Errorf("report %v %v", res.Extra, res.Notes)
	}

	// User 1 leaves: the membership no longer holds it, so 0's view, which still does, is wrong
	// and 2's, which lost it early, is right.
	socks[1].mu.Lock()
	socks[1].state[0] = roomNone
	socks[1].mu.Unlock()
	if c := run.check(); c.views != 2 || c.wrong != 1 || c.extra != 1 || c.missing != 0 {
		t.Fatalf("after the leave: %+v", c)
	}
}
