package console

import (
	"testing"

	"github.com/herald-io/herald/actors/messages"
)

// TestViewerThatFallsBehindLosesCountedBatches: a viewer whose queue is full loses the next
// batches, counting their events and what the member had dropped, while other viewers get them.
func TestViewerThatFallsBehindLosesCountedBatches(t *testing.T) {
	slow := &Viewer{AppID: "a", ch: make(chan Batch, 1)}
	fast := &Viewer{AppID: "a", ch: make(chan Batch, 3)}
	a := &consoleActor{viewers: map[string]map[*Viewer]struct{}{"a": {slow: {}, fast: {}}}}
	batch := &messages.ConsoleRecords{AppId: "a", Node: "n1", Events: []*messages.ConsoleEvent{{Kind: "occupied"}, {Kind: "vacated"}}, Dropped: 3}
	for range 3 {
		a.show(batch)
	}
	a.show(&messages.ConsoleRecords{AppId: "other", Events: batch.Events}) // no viewer: nothing
	if len(slow.ch) != 1 || len(fast.ch) != 3 {
		t.Fatalf("queued %d and %d batches, want 1 and 3", len(slow.ch), len(fast.ch))
	}
	if lost := slow.TakeLost(); lost != 2*(2+3) {
		t.Fatalf("the slow viewer lost %d events, want %d", lost, 2*(2+3))
	}
	if slow.TakeLost() != 0 || fast.TakeLost() != 0 {
		t.Fatal("TakeLost counts from the previous call; the fast viewer lost nothing")
	}
	b := <-fast.ch
	if b.Node != "n1" || len(b.Events) != 2 || b.Events[1].Kind != "vacated" || b.Dropped != 3 {
		t.Fatalf("batch %+v", b)
	}
}
