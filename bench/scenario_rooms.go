package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/herald-io/herald/bench/pusherclient"
)

// The rooms scenario: presence-heavy load in the shape of a chat or collaboration product.
// cfg.Users sockets, one user each, are members of cfg.RoomsPerUser presence rooms out of
// cfg.Rooms. After a join phase, users rejoin (churn) at cfg.ChurnRate for cfg.ChurnDuration,
// either by unsubscribing from one room and subscribing again, or by a reconnect: the socket
// closes and a new one subscribes to all the user's rooms at once, as a page reload does.
//
// Presence frames carry nothing of ours, so the time of the action that causes each
// member_added (the joiner's subscribe) and member_removed (the unsubscribe, or the close) is
// kept here, per user and room, and read by the receivers.
//
// After each phase, once no presence frame has arrived for a while, every socket's view of each
// of its rooms (roster from subscription_succeeded, plus member_added, minus member_removed) is
// compared with the room's real membership, which the harness knows: Pusher's semantics make
// them equal, whatever the order of joins, leaves and reloads.

// Subscription states of one room on one socket.
const (
	roomNone       uint8 = iota // not subscribed (never, or unsubscribed)
	roomPending                 // subscribe sent, no answer yet
	roomSubscribed              // subscription_succeeded received
)

// roomsRun is what the sockets of one rooms run share.
type roomsRun struct {
	r                *runner
	users, rooms, k  int
	prefix           string    // channel name of room n: prefix + n
	quotedPrefix     []byte    // `"` + prefix, to find the channel in a raw frame
	members          [][]int32 // per room: the users that belong to it, ascending
	joinAt, leaveAt  []atomic.Int64
	userState        []*roomsUser
	churning         atomic.Bool
	lastPresence     atomic.Int64 // UnixNano of the latest presence frame received
	subH, churnSubH  *shardedHistogram
	addH, churnAddH  *shardedHistogram
	churnRemH        *shardedHistogram
	added, removed   atomic.Int64 // member_added / member_removed frames received
	dupAdded, dupRem atomic.Int64 // member_added for a user in the view / member_removed for one not in it
	foreign          atomic.Int64 // member events or roster entries for users not in that room
	ignored          atomic.Int64 // member events for a room the socket was not subscribed to (in flight across an unsubscribe)
	subErrors        atomic.Int64
	closedOld        sync.WaitGroup
	nextSocket       atomic.Int64
}

// roomsUser is one user: its current socket, replaced by a reconnect.
type roomsUser struct {
	idx  int
	busy atomic.Bool
	mu   sync.Mutex
	sock *roomsSocket
	gen  int // reconnects so far: each one moves the user to the next node of a cluster
}

func (u *roomsUser) socket() *roomsSocket {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.sock
}

// roomsSocket is one WebSocket of a user.
type roomsSocket struct {
	run     *roomsRun
	user    int
	shard   int
	client  *pusherclient.Client
	answers chan roomAnswer

	mu     sync.Mutex
	dead   bool       // closed by the harness (reconnect): its frames no longer count
	state  []uint8    // per room of the user (index j)
	sentAt []int64    // per j: when the latest subscribe was sent (UnixNano)
	views  [][]uint64 // per j: bit i set when the room's i-th member is in this socket's view
}

type roomAnswer struct {
	j  int
	ok bool
}

// roomOf is user u's j-th room: consecutive users share rooms, and each room gets about
// users*k/rooms members.
func (run *roomsRun) roomOf(u, j int) int { return (u*run.k + j) % run.rooms }

// jOf is the index among user u's rooms of room, or -1 when u is not in it.
func (run *roomsRun) jOf(u, room int) int {
	d := ((room-u*run.k)%run.rooms + run.rooms) % run.rooms
	if d < run.k {
		return d
	}
	return -1
}

// memberIndex is user u's position in room's member list, or -1.
func (run *roomsRun) memberIndex(room int, u uint64) int {
	if u >= uint64(run.users) {
		return -1
	}
	i, ok := slices.BinarySearch(run.members[room], int32(u))
	if !ok {
		return -1
	}
	return i
}

func (run *roomsRun) channel(room int) string { return run.prefix + strconv.Itoa(room) }

// roomOfFrame finds the room of a frame by its channel name, without decoding the frame.
func (run *roomsRun) roomOfFrame(raw []byte) (int, bool) {
	i := bytes.Index(raw, run.quotedPrefix)
	if i < 0 {
		return 0, false
	}
	n, ok := 0, false
	for _, c := range raw[i+len(run.quotedPrefix):] {
		if c < '0' || c > '9' {
			break
		}
		n, ok = n*10+int(c-'0'), true
	}
	return n, ok && n < run.rooms
}

func (run *roomsRun) newSocket(u int) *roomsSocket {
	s := &roomsSocket{
		run: run, user: u, shard: int(run.nextSocket.Add(1)),
		answers: make(chan roomAnswer, 2*run.k),
		state:   make([]uint8, run.k), sentAt: make([]int64, run.k), views: make([][]uint64, run.k),
	}
	for j := range s.views {
		s.views[j] = make([]uint64, (len(run.members[run.roomOf(u, j)])+63)/64)
	}
	return s
}

func (s *roomsSocket) options() pusherclient.Options {
	return pusherclient.Options{OnRaw: s.onRaw, OnMessage: s.onMessage}
}

// onRaw takes the presence frames of the run's rooms; everything else goes on to onMessage.
func (s *roomsSocket) onRaw(raw []byte, received time.Time) bool {
	run := s.run
	ev := frameEvent(raw)
	kind := 0
	switch string(ev) {
	case pusherclient.EventSubscriptionSucceeded:
		kind = 1
	case pusherclient.EventMemberAdded:
		kind = 2
	case pusherclient.EventMemberRemoved:
		kind = 3
	default:
		return false
	}
	room, ok := run.roomOfFrame(raw)
	if !ok {
		return false
	}
	j := run.jOf(s.user, room)
	if j < 0 {
		run.foreign.Add(1)
		return true
	}
	run.lastPresence.Store(received.UnixNano())
	churn := run.churning.Load()
	switch kind {
	case 1:
		s.mu.Lock()
		if s.dead {
			s.mu.Unlock()
			return true
		}
		view := s.views[j]
		clear(view)
		rosterIDs(raw, func(id uint64) {
			if i := run.memberIndex(room, id); i >= 0 {
				view[i/64] |= 1 << (i % 64)
			} else {
				run.foreign.Add(1)
			}
		})
		s.state[j] = roomSubscribed
		sent := s.sentAt[j]
		s.mu.Unlock()
		h := run.subH
		if churn {
			h = run.churnSubH
		}
		if sent > 0 {
			h.shard(s.shard).Record(received.Sub(time.Unix(0, sent)))
		}
		select {
		case s.answers <- roomAnswer{j, true}:
		default:
		}
	case 2, 3:
		uid, ok := numberAfter(raw, userIDKey)
		i := -1
		if ok {
			i = run.memberIndex(room, uid)
		}
		if kind == 2 {
			run.added.Add(1)
		} else {
			run.removed.Add(1)
		}
		if i < 0 {
			run.foreign.Add(1)
			return true
		}
		s.mu.Lock()
		if s.dead || s.state[j] != roomSubscribed {
			s.mu.Unlock()
			run.ignored.Add(1)
			return true
		}
		view, m := s.views[j], uint64(1)<<(i%64)
		had := view[i/64]&m != 0
		if kind == 2 {
			view[i/64] |= m
		} else {
			view[i/64] &^= m
		}
		s.mu.Unlock()
		// The causing action's time: the joiner's subscribe, or the leaver's unsubscribe/close.
		at, h := &run.joinAt[int(uid)*run.k+run.jOf(int(uid), room)], run.addH
		switch {
		case kind == 2 && had:
			run.dupAdded.Add(1)
			return true
		case kind == 3 && !had:
			run.dupRem.Add(1)
			return true
		case kind == 2 && churn:
			h = run.churnAddH
		case kind == 3:
			at, h = &run.leaveAt[int(uid)*run.k+run.jOf(int(uid), room)], run.churnRemH
		}
		if t := at.Load(); t > 0 {
			h.shard(s.shard).Record(received.Sub(time.Unix(0, t)))
		}
	}
	return true
}

// onMessage sees what onRaw leaves: subscription errors answer a subscribe; pusher:error
// frames are counted.
func (s *roomsSocket) onMessage(m pusherclient.Message) {
	run := s.run
	switch m.Event {
	case pusherclient.EventError:
		atomic.AddInt64(&run.r.res.PusherErrors, 1)
	case pusherclient.EventSubscriptionError:
		room, ok := run.roomOfFrame(m.Raw)
		if !ok {
			return
		}
		j := run.jOf(s.user, room)
		if j < 0 {
			return
		}
		run.subErrors.Add(1)
		se := &pusherclient.SubscriptionError{Channel: m.Channel}
		_ = m.Decode(se)
		run.r.countError(se)
		s.mu.Lock()
		s.state[j] = roomNone
		s.mu.Unlock()
		select {
		case s.answers <- roomAnswer{j, false}:
		default:
		}
	}
}

// subscribe sends the subscribes of the user's rooms js at once (as pusher-js does on
// connecting) and waits for every answer. It returns how many succeeded.
func (s *roomsSocket) subscribe(ctx context.Context, js []int) (int, error) {
	run := s.run
drain: // a late answer of an earlier subscribe must not count for these
	for {
		select {
		case <-s.answers:
		default:
			break drain
		}
	}
	app := run.r.t.App
	uid := strconv.Itoa(s.user)
	for _, j := range js {
		ch := run.channel(run.roomOf(s.user, j))
		auth, cd, err := app.PresenceAuth(s.client.SocketID(), ch, uid, map[string]string{"name": "u" + uid})
		if err != nil {
			return 0, err
		}
		now := time.Now().UnixNano()
		s.mu.Lock()
		s.state[j], s.sentAt[j] = roomPending, now
		s.mu.Unlock()
		run.joinAt[s.user*run.k+j].Store(now)
		if err := s.client.SendRaw(pusherclient.SubscribeFrame(ch, auth, cd)); err != nil {
			return 0, err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	waiting := make(map[int]bool, len(js))
	for _, j := range js {
		waiting[j] = true
	}
	ok := 0
	for len(waiting) > 0 {
		select {
		case a := <-s.answers:
			if waiting[a.j] {
				delete(waiting, a.j)
				if a.ok {
					ok++
				}
			}
		case <-s.client.Done():
			return ok, s.client.Err()
		case <-ctx.Done():
			return ok, fmt.Errorf("bench: rooms: user %d: %d subscribes unanswered: %w", s.user, len(waiting), ctx.Err())
		}
	}
	if ok < len(js) {
		return ok, fmt.Errorf("bench: rooms: user %d: %d of %d subscribes refused", s.user, len(js)-ok, len(js))
	}
	return ok, nil
}

// newRoomsRun lays out the users and rooms of cfg, with a socket (not yet connected) per user.
func newRoomsRun(r *runner, cfg Config) (*roomsRun, []*roomsSocket) {
	run := &roomsRun{
		r: r, users: cfg.Users, rooms: cfg.Rooms, k: cfg.RoomsPerUser,
		prefix:  "presence-rooms-" + r.runID + "-",
		joinAt:  make([]atomic.Int64, cfg.Users*cfg.RoomsPerUser),
		leaveAt: make([]atomic.Int64, cfg.Users*cfg.RoomsPerUser),
		members: make([][]int32, cfg.Rooms),
	}
	run.quotedPrefix = []byte(`"` + run.prefix)
	for u := range run.users {
		for j := range run.k {
			room := run.roomOf(u, j)
			run.members[room] = append(run.members[room], int32(u))
		}
	}
	nShards := 4 * runtime.GOMAXPROCS(0)
	run.subH, run.churnSubH = newShardedHistogram(nShards), newShardedHistogram(nShards)
	run.addH, run.churnAddH, run.churnRemH = newShardedHistogram(nShards), newShardedHistogram(nShards), newShardedHistogram(nShards)
	run.userState = make([]*roomsUser, run.users)
	socks := make([]*roomsSocket, run.users)
	for u := range run.users {
		run.userState[u] = &roomsUser{idx: u}
		socks[u] = run.newSocket(u)
	}
	return run, socks
}

// rooms runs the scenario: connect, join, check, churn, check.
func (r *runner) rooms(ctx context.Context) error {
	cfg := r.cfg
	run, socks := newRoomsRun(r, cfg)
	r.res.extra("setup: members per room (mean)", float64(run.users*run.k)/float64(run.rooms))

	// Connect every socket first, so that the join phase measures joins alone.
	setup := r.sample()
	connectH := NewHistogram()
	var ready atomic.Int64
	stopConnect := r.startProgress(func() string { return fmt.Sprintf("connected %d/%d", ready.Load(), run.users) })
	clients := r.dialAll(ctx, run.users, connectH, func(i int) pusherclient.Options { return socks[i].options() }, nil, &ready)
	stopConnect()
	r.res.setHist("connect", connectH)
	for u, c := range clients {
		if c != nil {
			socks[u].client = c
			run.userState[u].sock = socks[u]
		}
	}
	defer run.closeAll()
	if ctx.Err() != nil {
		return nil
	}

	// Join phase.
	before := r.sample()
	cpu0 := selfCPU()
	var joined, joinErrs atomic.Int64
	stop := r.startProgress(func() string {
		return fmt.Sprintf("joined %d/%d rooms, member_added %d, errors %d", joined.Load(), run.users*run.k, run.added.Load(), joinErrs.Load())
	})
	start := time.Now()
	var lastJoin atomic.Int64
	all := make([]int, run.k)
	for j := range all {
		all[j] = j
	}
	w := newWorkers(cfg.JoinConcurrency)
	pace(ctx, cfg.JoinRate, 0, int64(run.users), func(i int64) {
		s := run.userState[i].socket()
		if s == nil {
			return
		}
		w.Go(ctx, func() {
			n, err := s.subscribe(ctx, all)
			joined.Add(int64(n))
			if err != nil {
				joinErrs.Add(int64(run.k - n))
				if ctx.Err() == nil {
					r.countError(err)
				}
			}
			lastJoin.Store(time.Now().UnixNano())
		})
	})
	w.Wait()
	joinPhase := time.Unix(0, lastJoin.Load()).Sub(start)
	r.res.Subscribed = joined.Load()
	r.res.SubscribeErrors = joinErrs.Load()
	afterJoinCheck := run.settleAndCheck(ctx, "join")
	addedJoin := run.added.Load()
	afterJoin := r.sample()
	stop()
	r.res.ClientCPU = selfCPU() - cpu0
	r.res.Elapsed = joinPhase.Seconds()
	r.res.extra("join: rooms joined/s", rate(r.res.Subscribed, joinPhase))
	r.res.extra("join: member_added received", float64(addedJoin))
	r.res.extra("join: member_added expected", float64(run.expectedJoinAdds()))
	afterJoinCheck.report(r.res, "check after join")
	r.res.finishServer(setup, before, afterJoin)
	r.res.PerCPUSecond = 0 // member_added are the server's work, not deliveries of ours
	if r.res.ServerCPU > 0 {
		r.res.extra("join: rooms joined per server CPU-s", float64(r.res.Subscribed)/r.res.ServerCPU)
		r.res.extra("join: member_added per server CPU-s", float64(addedJoin)/r.res.ServerCPU)
	}
	if setup != nil && afterJoin != nil && r.res.Connections > 0 {
		// Memory with every socket in its rooms, which is what a presence server holds.
		r.res.MemPerConn = float64(afterJoin.RSSBytes-setup.RSSBytes) / float64(r.res.Connections)
	}
	r.res.setHist("subscribe", run.subH.merged())
	r.res.setHist("member_added", run.addH.merged())
	r.res.Primary = "subscribe"

	if cfg.ChurnRate > 0 && cfg.ChurnDuration > 0 && ctx.Err() == nil {
		if err := run.churn(ctx, afterJoin); err != nil {
			return err
		}
	}
	run.checkUsersAPI(ctx)
	return nil
}

// expectedJoinAdds is the member_added count a correct server sends while the rooms fill: in a
// room of m members, each pair gives exactly one (to whichever joined first), m(m-1)/2, when
// every user joined.
func (run *roomsRun) expectedJoinAdds() int64 {
	var n int64
	for _, m := range run.members {
		n += int64(len(m)) * int64(len(m)-1) / 2
	}
	return n
}

// churn has cfg.ChurnRate users per second rejoin for cfg.ChurnDuration, at most
// cfg.ChurnConcurrency at a time, then checks every view.
func (run *roomsRun) churn(ctx context.Context, afterJoin *ProcSample) error {
	r, cfg := run.r, run.r.cfg
	run.churning.Store(true)
	added0, removed0 := run.added.Load(), run.removed.Load()
	var actions, reconnects, roomRejoins, subs, errs, skipped atomic.Int64
	stop := r.startProgress(func() string {
		return fmt.Sprintf("churn: %d rejoins (%d reconnects), errors %d, skipped %d", actions.Load(), reconnects.Load(), errs.Load(), skipped.Load())
	})
	// A seeded generator: every target gets the same sequence of choices.
	rng := rand.New(rand.NewPCG(uint64(run.users), uint64(run.rooms)))
	w := newWorkers(cfg.ChurnConcurrency)
	cpu0 := selfCPU()
	start := time.Now()
	pace(ctx, cfg.ChurnRate, cfg.ChurnDuration, 0, func(int64) {
		u := run.userState[rng.IntN(run.users)]
		reconnect := rng.Float64() < cfg.ReconnectShare
		j := rng.IntN(run.k)
		if u.socket() == nil || !u.busy.CompareAndSwap(false, true) {
			skipped.Add(1)
			return
		}
		started := w.TryGo(func() {
			defer u.busy.Store(false)
			var n int
			var err error
			if reconnect {
				n, err = run.reconnect(ctx, u)
				reconnects.Add(1)
			} else {
				n, err = run.rejoinRoom(ctx, u, j)
				roomRejoins.Add(1)
			}
			subs.Add(int64(n))
			actions.Add(1)
			if err != nil {
				errs.Add(1)
				if ctx.Err() == nil {
					r.countError(err)
				}
			}
		})
		if !started {
			u.busy.Store(false)
			skipped.Add(1)
		}
	})
	w.Wait()
	phase := time.Since(start)
	check := run.settleAndCheck(ctx, "churn")
	afterChurn := r.sample()
	stop()
	res := r.res
	res.extra("churn: rejoins", float64(actions.Load()))
	res.extra("churn: rejoins/s", rate(actions.Load(), phase))
	res.extra("churn: reconnects", float64(reconnects.Load()))
	res.extra("churn: room unsubscribe+subscribe", float64(roomRejoins.Load()))
	res.extra("churn: subscribes answered", float64(subs.Load()))
	res.extra("churn: errors", float64(errs.Load()))
	res.extra("churn: skipped (user busy or in-flight bound)", float64(skipped.Load()))
	res.extra("churn: member_added received", float64(run.added.Load()-added0))
	res.extra("churn: member_removed received", float64(run.removed.Load()-removed0))
	res.extra("churn: bench CPU (s)", selfCPU()-cpu0)
	if afterJoin != nil && afterChurn != nil {
		cpu := afterChurn.CPUSeconds - afterJoin.CPUSeconds
		res.extra("churn: server CPU (s)", cpu)
		if cpu > 0 {
			res.extra("churn: rejoins per server CPU-s", float64(actions.Load())/cpu)
			res.extra("churn: subscribes per server CPU-s", float64(subs.Load())/cpu)
		}
	}
	check.report(res, "check after churn")
	res.setHist("churn_subscribe", run.churnSubH.merged())
	res.setHist("churn_member_added", run.churnAddH.merged())
	res.setHist("churn_member_removed", run.churnRemH.merged())
	return nil
}

// rejoinRoom unsubscribes user u's socket from its j-th room and subscribes again at once.
func (run *roomsRun) rejoinRoom(ctx context.Context, u *roomsUser, j int) (int, error) {
	s := u.socket()
	s.mu.Lock()
	s.state[j] = roomNone
	clear(s.views[j])
	s.mu.Unlock()
	run.leaveAt[u.idx*run.k+j].Store(time.Now().UnixNano())
	if err := s.client.Unsubscribe(run.channel(run.roomOf(u.idx, j))); err != nil {
		return 0, err
	}
	return s.subscribe(ctx, []int{j})
}

// reconnect closes user u's socket and opens a new one (on the next node of a cluster) that
// subscribes to all the user's rooms at once, as a page reload does: the old socket's close
// and the new one's subscribes race at the server, which may therefore send member_removed and
// member_added, or neither.
func (run *roomsRun) reconnect(ctx context.Context, u *roomsUser) (int, error) {
	old := u.socket()
	old.mu.Lock()
	old.dead = true
	old.mu.Unlock()
	now := time.Now().UnixNano()
	for j := range run.k {
		run.leaveAt[u.idx*run.k+j].Store(now)
	}
	run.closedOld.Add(1)
	go func() {
		defer run.closedOld.Done()
		_ = old.client.Close()
	}()

	u.mu.Lock()
	u.gen++
	node := u.idx + u.gen
	u.mu.Unlock()
	s := run.newSocket(u.idx)
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	c, err := pusherclient.DialOptions(dctx, run.r.t.wsURL(node), s.options())
	if err != nil {
		atomic.AddInt64(&run.r.res.ConnectErrors, 1)
		u.mu.Lock()
		u.sock = nil // the user is gone: in no room
		u.mu.Unlock()
		return 0, err
	}
	s.client = c
	u.mu.Lock()
	u.sock = s
	u.mu.Unlock()
	all := make([]int, run.k)
	for j := range all {
		all[j] = j
	}
	return s.subscribe(dctx, all)
}

// closeAll closes every current socket and waits for the reconnects' closes.
func (run *roomsRun) closeAll() {
	var clients []*pusherclient.Client
	for _, u := range run.userState {
		if s := u.socket(); s != nil && s.client != nil {
			clients = append(clients, s.client)
		}
	}
	run.r.closeAll(clients)
	run.closedOld.Wait()
}

// roomsCheck is the comparison of every view with the real membership.
type roomsCheck struct {
	views, wrong     int64 // views compared; views that differ from the membership
	missing, extra   int64 // entries missing from views (member_added or roster lost); entries left over (member_removed lost)
	dupAdded, dupRem int64
	foreign          int64
	uncheckedRooms   int64 // rooms with a subscribe unanswered, whose membership is unknown
	firstWrong       string
}

// report adds the check's figures to the result, and a note when anything is wrong.
func (c roomsCheck) report(res *Result, phase string) {
	res.extra(phase+": views checked", float64(c.views))
	res.extra(phase+": WRONG VIEWS", float64(c.wrong))
	res.extra(phase+": view entries missing (member_added lost)", float64(c.missing))
	res.extra(phase+": view entries extra (member_removed lost)", float64(c.extra))
	res.extra(phase+": duplicate member_added", float64(c.dupAdded))
	res.extra(phase+": member_removed for a user not in the view", float64(c.dupRem))
	res.extra(phase+": member events for users not in the room", float64(c.foreign))
	if c.uncheckedRooms > 0 {
		res.extra(phase+": rooms not checked (subscribe unanswered)", float64(c.uncheckedRooms))
	}
	if c.wrong > 0 || c.dupAdded > 0 || c.dupRem > 0 || c.foreign > 0 {
		res.note("%s: %d of %d views wrong (%d entries missing, %d extra), %d duplicate member_added, %d member_removed for absent users, %d events for users not in the room; first wrong view: %s",
			phase, c.wrong, c.views, c.missing, c.extra, c.dupAdded, c.dupRem, c.foreign, c.firstWrong)
	}
}

// settleAndCheck waits until no presence frame has arrived for a quiet second (at most
// cfg.Drain), then compares every view with the membership. The duplicate and foreign counts
// are those since the previous check.
func (run *roomsRun) settleAndCheck(ctx context.Context, phase string) roomsCheck {
	quiet := min(time.Second, run.r.cfg.Drain)
	deadline := time.Now().Add(run.r.cfg.Drain)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		if time.Since(time.Unix(0, run.lastPresence.Load())) >= quiet && run.check().wrong == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	c := run.check()
	c.dupAdded, c.dupRem, c.foreign = run.dupAdded.Swap(0), run.dupRem.Swap(0), run.foreign.Swap(0)
	if c.wrong > 0 && time.Since(time.Unix(0, run.lastPresence.Load())) < quiet {
		run.r.res.note("%s: presence frames were still arriving when the %v drain ended: wrong views may be late rather than wrong; a longer --drain tells", phase, run.r.cfg.Drain)
	}
	return c
}

// check compares the view of every live socket with the membership of each room it is in.
func (run *roomsRun) check() roomsCheck {
	var c roomsCheck
	truth := make([][]uint64, run.rooms)
	unknown := make([]bool, run.rooms)
	for room := range truth {
		truth[room] = make([]uint64, (len(run.members[room])+63)/64)
	}
	type live struct {
		s     *roomsSocket
		state []uint8
		views [][]uint64
	}
	var socks []live
	for _, u := range run.userState {
		s := u.socket()
		if s == nil || s.client == nil || s.client.Err() != nil {
			continue // gone: in no room
		}
		s.mu.Lock()
		l := live{s: s, state: slices.Clone(s.state), views: make([][]uint64, run.k)}
		for j := range run.k {
			l.views[j] = slices.Clone(s.views[j])
		}
		s.mu.Unlock()
		socks = append(socks, l)
		for j, st := range l.state {
			room := run.roomOf(u.idx, j)
			switch st {
			case roomSubscribed:
				i := run.memberIndex(room, uint64(u.idx))
				truth[room][i/64] |= 1 << (i % 64)
			case roomPending:
				unknown[room] = true
			}
		}
	}
	for _, b := range unknown {
		if b {
			c.uncheckedRooms++
		}
	}
	for _, l := range socks {
		for j, st := range l.state {
			room := run.roomOf(l.s.user, j)
			if st != roomSubscribed || unknown[room] {
				continue
			}
			c.views++
			var missing, extra int
			for w, want := range truth[room] {
				missing += bits.OnesCount64(want &^ l.views[j][w])
				extra += bits.OnesCount64(l.views[j][w] &^ want)
			}
			if missing+extra > 0 {
				c.wrong++
				c.missing += int64(missing)
				c.extra += int64(extra)
				if c.firstWrong == "" {
					c.firstWrong = run.describeWrong(l.s.user, room, truth[room], l.views[j])
				}
			}
		}
	}
	return c
}

// describeWrong names the users a wrong view misses or holds in excess (the first few).
func (run *roomsRun) describeWrong(user, room int, want, have []uint64) string {
	var missing, extra []int32
	for i, m := range run.members[room] {
		w, h := want[i/64]&(1<<(i%64)) != 0, have[i/64]&(1<<(i%64)) != 0
		switch {
		case w && !h && len(missing) < 5:
			missing = append(missing, m)
		case h && !w && len(extra) < 5:
			extra = append(extra, m)
		}
	}
	return fmt.Sprintf("user %d in %s misses users %v and still holds users %v", user, run.channel(room), missing, extra)
}

// checkUsersAPI asks the HTTP API for the users of a sample of rooms
// (GET /apps/{id}/channels/{name}/users) and compares them with the membership: the server's
// own roster, as the API reports it (across a cluster, whichever node is asked).
func (run *roomsRun) checkUsersAPI(ctx context.Context) {
	if ctx.Err() != nil {
		return
	}
	c := run.check()
	if c.wrong > 0 {
		return // the views already tell
	}
	member := make([]map[int32]bool, run.rooms)
	for _, u := range run.userState {
		s := u.socket()
		if s == nil || s.client == nil || s.client.Err() != nil {
			continue
		}
		s.mu.Lock()
		for j, st := range s.state {
			if st == roomSubscribed {
				room := run.roomOf(u.idx, j)
				if member[room] == nil {
					member[room] = map[int32]bool{}
				}
				member[room][int32(u.idx)] = true
			}
		}
		s.mu.Unlock()
	}
	const sample = 20
	step := max(run.rooms/sample, 1)
	var checked, differ int
	for room := 0; room < run.rooms && checked < sample; room += step {
		var body struct {
			Users []struct {
				ID string `json:"id"`
			} `json:"users"`
		}
		status, err := run.r.api.Get(ctx, run.r.api.AppPath("/channels/"+url.PathEscape(run.channel(room))+"/users"), nil, &body)
		if err != nil {
			var ae *pusherclient.APIError
			if errors.As(err, &ae) && (status == 404 || status == 405) {
				run.r.res.note("users API: GET .../users answered %d: not checked", status)
				return
			}
			run.r.res.note("users API: %v", err)
			return
		}
		checked++
		got := map[int32]bool{}
		for _, u := range body.Users {
			if n, err := strconv.Atoi(u.ID); err == nil {
				got[int32(n)] = true
			}
		}
		same := len(got) == len(member[room])
		for id := range member[room] {
			same = same && got[id]
		}
		if !same {
			differ++
			if differ == 1 {
				run.r.res.note("users API: %s lists %d users, %d are members", run.channel(room), len(got), len(member[room]))
			}
		}
	}
	run.r.res.extra("users API: rooms checked", float64(checked))
	run.r.res.extra("users API: rooms whose users differ", float64(differ))
}
