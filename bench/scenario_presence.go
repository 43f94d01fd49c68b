package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/herald-io/herald/bench/pusherclient"
	"github.com/herald-io/herald/protocol"
)

// presenceRun is the state the members of one presence scenario share.
type presenceRun struct {
	channel   string
	sendTimes []atomic.Int64 // per member: when its latest subscribe was sent (UnixNano)
	churning  atomic.Bool    // false while joining, true during churn

	subH, addH, churnSubH, churnAddH *Histogram

	added, removed atomic.Int64 // member_added / member_removed frames received by all members
	rosterMax      atomic.Int64 // the largest roster count a subscription_succeeded announced
	subErrors      atomic.Int64
}

// presenceMember is one socket of the presence scenario.
type presenceMember struct {
	run      *presenceRun
	idx      int
	observer bool
	client   *pusherclient.Client
	done     chan bool // the answer to a subscribe: true for success
	busy     atomic.Bool

	mu   sync.Mutex
	seen seqSet // observers: the members (idx+1) whose member_added arrived while joining
	// view is who this member believes is in the channel: its roster, plus member_added,
	// minus member_removed. Once joins settle, every member's view must hold every member.
	view viewSet
}

// viewSet is a set of member indexes with its size.
type viewSet struct {
	bits []uint64
	n    int
}

func (v *viewSet) add(i uint64) {
	if i >= maxSeq {
		return
	}
	w := int(i / 64)
	if w >= len(v.bits) {
		v.bits = append(v.bits, make([]uint64, w-len(v.bits)+1)...)
	}
	if m := uint64(1) << (i % 64); v.bits[w]&m == 0 {
		v.bits[w] |= m
		v.n++
	}
}

func (v *viewSet) remove(i uint64) {
	w := int(i / 64)
	if m := uint64(1) << (i % 64); w < len(v.bits) && v.bits[w]&m != 0 {
		v.bits[w] &^= m
		v.n--
	}
}

// rosterIDs calls fn with each numeric id of the roster's "ids" list in a
// subscription_succeeded frame, scanning rather than decoding (rosters grow to megabytes).
func rosterIDs(frame []byte, fn func(uint64)) {
	i := bytes.Index(frame, []byte("ids"))
	if i < 0 {
		return
	}
	b := frame[i+3:]
	if j := bytes.IndexByte(b, '['); j >= 0 {
		b = b[j+1:]
	}
	if end := bytes.IndexByte(b, ']'); end >= 0 {
		b = b[:end]
	}
	var n uint64
	in := false
	for _, c := range b {
		if c >= '0' && c <= '9' {
			n = n*10 + uint64(c-'0')
			in = true
			continue
		}
		if in {
			fn(n)
		}
		n, in = 0, false
	}
	if in {
		fn(n)
	}
}

var (
	evMemberAdded   = []byte(protocol.EventMemberAdded)
	evMemberRemoved = []byte(protocol.EventMemberRemoved)
	evSubSucceeded  = []byte(protocol.EventSubscriptionSucceeded)
	evSubError      = []byte(protocol.EventSubscriptionError)
	userIDKey       = []byte("user_id")
	countKey        = []byte("count")
)

func (m *presenceMember) onRaw(raw []byte, received time.Time) bool {
	run := m.run
	switch ev := frameEvent(raw); string(ev) {
	case string(evMemberAdded):
		run.added.Add(1)
		uid, ok := numberAfter(raw, userIDKey)
		if !ok || uid >= uint64(len(run.sendTimes)) {
			return true
		}
		m.mu.Lock()
		m.view.add(uid)
		m.mu.Unlock()
		if !m.observer {
			return true
		}
		lat := received.Sub(time.Unix(0, run.sendTimes[uid].Load()))
		if run.churning.Load() {
			run.churnAddH.Record(lat)
			return true
		}
		m.mu.Lock()
		isNew := m.seen.add(uid + 1)
		m.mu.Unlock()
		if isNew {
			run.addH.Record(lat)
		}
		return true
	case string(evMemberRemoved):
		run.removed.Add(1)
		if uid, ok := numberAfter(raw, userIDKey); ok {
			m.mu.Lock()
			m.view.remove(uid)
			m.mu.Unlock()
		}
		return true
	case string(evSubSucceeded):
		lat := received.Sub(time.Unix(0, run.sendTimes[m.idx].Load()))
		if run.churning.Load() {
			run.churnSubH.Record(lat)
		} else {
			run.subH.Record(lat)
		}
		m.mu.Lock()
		m.view = viewSet{}
		rosterIDs(raw, m.view.add)
		m.mu.Unlock()
		if n, ok := numberAfter(raw, countKey); ok {
			for cur := run.rosterMax.Load(); int64(n) > cur && !run.rosterMax.CompareAndSwap(cur, int64(n)); cur = run.rosterMax.Load() {
			}
		}
		m.answer(true)
		return true
	case string(evSubError):
		run.subErrors.Add(1)
		m.answer(false)
		return true
	}
	return false
}

func (m *presenceMember) answer(ok bool) {
	select {
	case m.done <- ok:
	default:
	}
}

// subscribe sends the presence subscribe and waits for its answer.
func (m *presenceMember) subscribe(ctx context.Context, app pusherclient.App) error {
	uid := strconv.Itoa(m.idx)
	auth, cd, err := app.PresenceAuth(m.client.SocketID(), m.run.channel, uid, map[string]string{"name": "m" + uid})
	if err != nil {
		return err
	}
	select { // a late answer from an earlier subscribe must not count for this one
	case <-m.done:
	default:
	}
	frame, _ := json.Marshal(map[string]any{"event": protocol.EventSubscribe, "data": protocol.SubscribeData{Channel: m.run.channel, Auth: auth, ChannelData: cd}})
	m.run.sendTimes[m.idx].Store(time.Now().UnixNano())
	if err := m.client.SendRaw(frame); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	select {
	case ok := <-m.done:
		if !ok {
			return fmt.Errorf("bench: presence subscribe of member %d refused", m.idx)
		}
		return nil
	case <-m.client.Done():
		return m.client.Err()
	case <-ctx.Done():
		return fmt.Errorf("bench: presence subscribe of member %d: %w", m.idx, ctx.Err())
	}
}

// presence connects cfg.Members sockets, then has them join one presence channel (the first
// cfg.Observers one by one, the rest with cfg.JoinConcurrency in flight), measuring subscribe
// latency and, at the observers, member_added latency from the joiner's subscribe. Then members
// leave and rejoin at cfg.ChurnRate for cfg.ChurnDuration.
func (r *runner) presence(ctx context.Context) error {
	cfg := r.cfg
	p := cfg.Members
	run := &presenceRun{
		channel:   "presence-bench-" + r.runID,
		sendTimes: make([]atomic.Int64, p),
		subH:      NewHistogram(), addH: NewHistogram(), churnSubH: NewHistogram(), churnAddH: NewHistogram(),
	}
	observers := min(max(cfg.Observers, 1), p)
	members := make([]*presenceMember, p)
	for i := range members {
		members[i] = &presenceMember{run: run, idx: i, observer: i < observers, done: make(chan bool, 1)}
	}

	setup := r.sample()
	connectH := NewHistogram()
	var ready, joined atomic.Int64
	stopConnect := r.startProgress(func() string { return fmt.Sprintf("connected %d/%d", ready.Load(), p) })
	clients := r.dialAll(ctx, p, connectH, func(i int) pusherclient.Options {
		return pusherclient.Options{OnRaw: members[i].onRaw, OnMessage: r.messageCounter()}
	}, nil, &ready)
	stopConnect()
	defer func() { r.closeAll(clients) }()
	r.res.setHist("connect", connectH)
	for i, c := range clients {
		members[i].client = c
	}
	if ctx.Err() != nil {
		return nil
	}

	before := r.sample()
	cpu0 := selfCPU()
	stop := r.startProgress(func() string {
		return fmt.Sprintf("joined %d/%d, member_added received %d, errors %d", joined.Load(), p, run.added.Load(), run.subErrors.Load())
	})
	start := time.Now()
	var lastJoin atomic.Int64
	join := func(m *presenceMember) {
		if m.client == nil {
			return
		}
		if err := m.subscribe(ctx, r.t.App); err != nil {
			atomic.AddInt64(&r.res.SubscribeErrors, 1)
			if ctx.Err() == nil {
				r.countError(err)
			}
			return
		}
		joined.Add(1)
		lastJoin.Store(time.Now().UnixNano())
		m.busy.Store(false)
	}
	joinedOK := make([]bool, p)
	for i := range observers {
		members[i].busy.Store(true)
		join(members[i])
		joinedOK[i] = !members[i].busy.Load()
	}
	w := newWorkers(cfg.JoinConcurrency)
	var okMu sync.Mutex
	pace(ctx, cfg.JoinRate, 0, int64(p-observers), func(i int64) {
		m := members[observers+int(i)]
		w.Go(ctx, func() {
			m.busy.Store(true)
			join(m)
			okMu.Lock()
			joinedOK[m.idx] = !m.busy.Load()
			okMu.Unlock()
		})
	})
	w.Wait()
	joinEnd := time.Unix(0, lastJoin.Load())
	joinPhase := joinEnd.Sub(start)
	r.res.Subscribed = joined.Load()

	// Every later joiner's member_added must reach every observer.
	expectAt := make([]int64, observers)
	for o := range observers {
		if !joinedOK[o] {
			continue
		}
		for j := o + 1; j < p; j++ {
			if joinedOK[j] {
				expectAt[o]++
			}
		}
	}
	deadline := time.Now().Add(cfg.Drain)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		complete := true
		for o := range observers {
			members[o].mu.Lock()
			got := members[o].seen.unique
			members[o].mu.Unlock()
			complete = complete && got >= expectAt[o]
		}
		if complete {
			complete = incompleteViews(members, joinedOK) == 0
		}
		if complete {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	afterJoin := r.sample()
	r.res.ClientCPU = selfCPU() - cpu0
	for o := range observers {
		m := members[o]
		m.mu.Lock()
		r.res.Offered += expectAt[o]
		r.res.Delivered += min(m.seen.unique, expectAt[o])
		r.res.Duplicated += m.seen.dups
		m.mu.Unlock()
	}
	r.res.Lost = r.res.Offered - r.res.Delivered
	addedInJoin := run.added.Load()
	views, missing := viewGaps(members, joinedOK)
	r.res.extra("members whose view missed members", float64(views))
	r.res.extra("view entries missing (all members)", float64(missing))
	if views > 0 {
		r.res.note("presence views incomplete after the drain: %d members miss %d entries in all (roster + member_added should show every member to every member)", views, missing)
	}
	r.res.Elapsed = joinPhase.Seconds()
	r.res.extra("joins/s", rate(r.res.Subscribed, joinPhase))
	r.res.extra("roster size reached", float64(run.rosterMax.Load()))
	r.res.extra("member_added received (all members)", float64(addedInJoin))
	r.res.extra("member_added received/s (all members)", rate(addedInJoin, joinPhase))
	r.res.finishServer(setup, before, afterJoin)
	r.res.PerCPUSecond = 0 // observers' deliveries are a sample, not the server's work
	if r.res.ServerCPU > 0 {
		r.res.extra("joins per server CPU-s", float64(r.res.Subscribed)/r.res.ServerCPU)
		r.res.extra("member_added per server CPU-s", float64(addedInJoin)/r.res.ServerCPU)
	}
	r.res.setHist("subscribe", run.subH)
	r.res.setHist("member_added", run.addH)
	r.res.Primary = "subscribe"

	if cfg.ChurnRate > 0 && cfg.ChurnDuration > 0 && p > observers && ctx.Err() == nil {
		run.churning.Store(true)
		removedBefore := run.removed.Load()
		var churns, churnErrors atomic.Int64
		rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
		churnStart := time.Now()
		var churners workers // unbounded: a member churns once at a time, so at most p at once
		pace(ctx, cfg.ChurnRate, cfg.ChurnDuration, 0, func(int64) {
			m := members[observers+rng.IntN(p-observers)]
			if m.client == nil || !joinedOK[m.idx] || !m.busy.CompareAndSwap(false, true) {
				return
			}
			churners.wg.Go(func() {
				if err := m.client.Unsubscribe(run.channel); err != nil {
					churnErrors.Add(1)
					return
				}
				if err := m.subscribe(ctx, r.t.App); err != nil {
					churnErrors.Add(1)
					return
				}
				churns.Add(1)
				m.busy.Store(false)
			})
		})
		churners.Wait()
		churnPhase := time.Since(churnStart)
		// Let the last member_removed and member_added arrive: every view complete again.
		settle := time.Now().Add(cfg.Drain)
		for time.Now().Before(settle) && ctx.Err() == nil && incompleteViews(members, joinedOK) > 0 {
			time.Sleep(20 * time.Millisecond)
		}
		afterChurn := r.sample()
		views, missing := viewGaps(members, joinedOK)
		r.res.extra("members whose view missed members after churn", float64(views))
		r.res.extra("view entries missing after churn", float64(missing))
		r.res.extra("churn rejoins", float64(churns.Load()))
		r.res.extra("churn errors", float64(churnErrors.Load()))
		r.res.extra("churn rejoins/s", rate(churns.Load(), churnPhase))
		r.res.extra("member_removed received (all members)", float64(run.removed.Load()-removedBefore))
		if afterJoin != nil && afterChurn != nil {
			r.res.extra("churn server CPU (s)", afterChurn.CPUSeconds-afterJoin.CPUSeconds)
		}
		r.res.setHist("churn_subscribe", run.churnSubH)
		r.res.setHist("churn_member_added", run.churnAddH)
	}
	stop()
	return nil
}

// viewGaps counts the joined members whose view lacks some joined member, and the entries
// missing in all.
func viewGaps(members []*presenceMember, joined []bool) (views int, missing int64) {
	want := 0
	for _, ok := range joined {
		if ok {
			want++
		}
	}
	for i, m := range members {
		if !joined[i] {
			continue
		}
		m.mu.Lock()
		have := 0
		for j, ok := range joined {
			w := j / 64
			if ok && w < len(m.view.bits) && m.view.bits[w]&(uint64(1)<<(j%64)) != 0 {
				have++
			}
		}
		m.mu.Unlock()
		if have < want {
			views++
			missing += int64(want - have)
		}
	}
	return views, missing
}

// incompleteViews is viewGaps' first figure, cheaply: it compares sizes only.
func incompleteViews(members []*presenceMember, joined []bool) int {
	want := 0
	for _, ok := range joined {
		if ok {
			want++
		}
	}
	n := 0
	for i, m := range members {
		if !joined[i] {
			continue
		}
		m.mu.Lock()
		if m.view.n < want {
			n++
		}
		m.mu.Unlock()
	}
	return n
}
