package connection

import (
	"fmt"
	"slices"
	"testing"

	"github.com/herald-io/herald/protocol"
)

// The set must answer as a map would, below and past the size where it becomes one, and after
// removals on both sides of that size.
func TestSubscriptionSetActsAsAMap(t *testing.T) {
	var set subscriptionSet
	want := map[string]*subscription{}
	check := func(step string) {
		t.Helper()
		if set.len() != len(want) {
			t.Fatalf("%s: len %d, want %d", step, set.len(), len(want))
		}
		for name, sub := range want {
			if got, ok := set.get(name); !ok || got != sub {
				t.Fatalf("%s: get(%q) = %v, %v; want %v", step, name, got, ok, sub)
			}
		}
		if _, ok := set.get("absent"); ok {
			t.Fatalf("%s: get of a name never added answered ok", step)
		}
		var seen []string
		for sub := range set.all() {
			seen = append(seen, sub.channel.Name)
		}
		slices.Sort(seen)
		var names []string
		for name := range want {
			names = append(names, name)
		}
		slices.Sort(names)
		if !slices.Equal(seen, names) {
			t.Fatalf("%s: all yielded %v, want %v", step, seen, names)
		}
	}
	add := func(name string) {
		sub := &subscription{channel: protocol.Channel{Name: name}}
		set.add(sub)
		want[name] = sub
	}
	remove := func(name string) {
		sub, ok := set.remove(name)
		if wantSub, held := want[name]; ok != held || sub != wantSub {
			t.Fatalf("remove(%q) = %v, %v; want %v, %v", name, sub, ok, wantSub, held)
		}
		delete(want, name)
	}

	check("empty")
	for i := range fewSubscriptions {
		add(fmt.Sprintf("ch-%d", i))
	}
	check("full slice")
	remove("ch-0")
	remove("ch-7")
	remove("never-added")
	check("after removals from the slice")
	for i := fewSubscriptions; i < 3*fewSubscriptions; i++ {
		add(fmt.Sprintf("ch-%d", i))
	}
	if set.many == nil {
		t.Fatalf("%d subscriptions still in the slice", set.len())
	}
	check("as a map")
	for i := range 3 * fewSubscriptions {
		remove(fmt.Sprintf("ch-%d", i))
	}
	check("emptied")
}
