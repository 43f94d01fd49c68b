package node

import (
	"strings"
	"testing"

	"github.com/jonboulle/clockwork"
)

func TestTapRecordsOnlyWatchedApps(t *testing.T) {
	var nilTap *Tap
	if nilTap.Watched("a") {
		t.Fatal("a nil tap watches nothing")
	}
	nilTap.Record("a", Event{Kind: EventOccupied}) // must not panic

	tap := NewTap()
	wakes := map[string]int{}
	tap.Attach(clockwork.NewFakeClock(), func(appID string) { wakes[appID]++ })
	tap.Record("a", Event{Kind: EventOccupied})
	if tap.Watched("a") || wakes["a"] != 0 {
		t.Fatalf("an unwatched app was recorded: wakes %v", wakes)
	}
	tap.SetWatched("a", true)
	if !tap.Watched("a") || tap.Watched("b") {
		t.Fatal("only a is watched")
	}
	tap.Record("a", Event{Kind: EventOccupied, Channel: "one"})
	tap.Record("a", Event{Kind: EventVacated, Channel: "one"})
	if wakes["a"] != 1 {
		t.Fatalf("woken %d times for two events before a Take, want once", wakes["a"])
	}
	events, dropped := tap.Take("a", 10)
	if len(events) != 2 || dropped != 0 || events[0].Kind != EventOccupied || events[1].Kind != EventVacated {
		t.Fatalf("took %+v, dropped %d", events, dropped)
	}
	if events[0].AtMillis == 0 {
		t.Fatal("Record stamps the time")
	}
	if events, _ := tap.Take("a", 10); events != nil {
		t.Fatalf("took %v from an empty buffer", events)
	}
	tap.Record("a", Event{Kind: EventOccupied})
	if wakes["a"] != 2 {
		t.Fatalf("the first event after an empty Take must wake the console actor (woken %d times)", wakes["a"])
	}
	tap.SetWatched("a", false)
	if tap.Watched("a") || tap.watching.Load() != 0 {
		t.Fatal("a is no longer watched")
	}
}

func TestTapDropsBeyondItsBound(t *testing.T) {
	tap := NewTap()
	tap.Attach(clockwork.NewFakeClock(), func(string) {})
	tap.SetWatched("a", true)
	for range tapPendingMax + 5 {
		tap.Record("a", Event{Kind: EventAPIMessage})
	}
	total := 0
	var dropped int64
	for {
		events, d := tap.Take("a", 100)
		if events == nil && d == 0 {
			break
		}
		total += len(events)
		dropped += d
	}
	if total != tapPendingMax || dropped != 5 {
		t.Fatalf("kept %d and dropped %d of %d, want %d and 5", total, dropped, tapPendingMax+5, tapPendingMax)
	}
}

func TestDataPreview(t *testing.T) {
	short := []byte(`{"a":1}`)
	if DataPreview(short) != string(short) {
		t.Fatal("short data is shown whole")
	}
	long := []byte(strings.Repeat("é", DataPreviewBytes)) // 2 bytes a character
	p := DataPreview(append([]byte("x"), long...))
	if len(p) > DataPreviewBytes || !strings.HasPrefix(p, "xé") || strings.ContainsRune(p, '\uFFFD') {
		t.Fatalf("preview of %d bytes is cut badly (%d bytes)", len(long)+1, len(p))
	}
}

// BenchmarkTapClosed is what a call site pays while no console is open: Watched alone.
func BenchmarkTapClosed(b *testing.B) {
	tap := NewTap()
	for b.Loop() {
		if tap.Watched("app") {
			b.Fatal("watched")
		}
	}
}

// BenchmarkTapOpen is what recording one API message costs with a console open on the app
// (the buffer is emptied every 512 events, as the console actor would).
func BenchmarkTapOpen(b *testing.B) {
	tap := NewTap()
	tap.Attach(clockwork.NewRealClock(), func(string) {})
	tap.SetWatched("app", true)
	data := []byte(`{"bseq":1,"bts":1700000000000000000,"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}`)
	i := 0
	for b.Loop() {
		if tap.Watched("app") {
			tap.Record("app", Event{Kind: EventAPIMessage, Channel: "bench", Event: "e", Data: DataPreview(data), Size: len(data), Count: 1000})
		}
		if i++; i%512 == 0 {
			tap.Take("app", 512)
		}
	}
}
