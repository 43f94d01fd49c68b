package transport_test

import (
	"bytes"
	"fmt"
	"runtime"
	"runtime/metrics"
	"testing"
)

// stackBytes is the memory the runtime holds for goroutine stacks, after a GC (which also
// shrinks the stacks it can).
func stackBytes() uint64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/stacks:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// An idle subscribed socket costs the server one goroutine, its read loop, and that goroutine
// must keep the 2 KB stack it started with: handling what it read on a handler goroutine
// (inbound.go) keeps the deep calls off it. A reader that once went deeper would keep 4 KB for
// the socket's life, the largest single cost of an idle socket.
//
// The clients are rawWS, which run no goroutine of their own, so the stacks this process adds
// are the server's. The race detector's bigger frames take any reader past 2 KB, so
// Taskfile.yml runs this test again without -race; under -race it only logs what it measured.
func TestIdleSocketsReadersKeepTheirFirstStack(t *testing.T) {
	app := newApp("stacks")
	ws, _, _, _ := startServer(t, app)
	subscribe := func(i int) *rawWS {
		r := dialRaw(t, ws, appPath(app), 0)
		for _, frame := range []string{"", fmt.Sprintf(`{"event":"pusher:subscribe","data":{"channel":"room-%d"}}`, i%10)} {
			if frame != "" {
				if err := r.writeText([]byte(frame)); err != nil {
					t.Fatalf("socket %d: write subscribe: %v", i, err)
				}
			}
			m, err := r.next(waitTimeout)
			if err != nil {
				t.Fatalf("socket %d: %v", i, err)
			}
			// connection_established, then subscription_succeeded: the subscribe was handled.
			if want := []string{"pusher:connection_established", "pusher_internal:subscription_succeeded"}[min(len(frame), 1)]; !bytes.Contains(m.text, []byte(want)) {
				t.Fatalf("socket %d: got %s, want %s", i, m.text, want)
			}
		}
		return r
	}
	subscribe(-1) // the first socket makes what every later one shares (handlers, pools, the app's actors)
	const sockets = 400
	before := stackBytes()
	for i := range sockets {
		subscribe(i)
	}
	perSocket := float64(int64(stackBytes())-int64(before)) / sockets
	t.Logf("goroutine stacks: %.0f bytes per idle subscribed socket", perSocket)
	if raceEnabled {
		return
	}
	// 2 KB is the reader's stack; what is above it is shared goroutines that grew meanwhile.
	if perSocket > 3<<10 {
		t.Errorf("idle subscribed sockets hold %.0f bytes of goroutine stack each, want at most 3 KB (a reader that grew to 4 KB)", perSocket)
	}
}
