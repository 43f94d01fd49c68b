package cluster

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/asynkron/protoactor-go/cluster"

	"github.com/herald-io/herald/actors/node"
)

// spreadKeys are 10,000 channel identities as apps name them.
func spreadKeys() []string {
	prefixes := []string{"presence-room-", "private-user-", "cache-feed-", "orders.", "private-encrypted-chat-"}
	keys := make([]string, 10000)
	for i := range keys {
		keys[i] = node.Key("app-id", prefixes[i%len(prefixes)]+strconv.Itoa(i))
	}
	return keys
}

// Member addresses as deployments have them: one host with a port each (configs/cluster), and
// pods of one Kubernetes node's range on one port.
func loopbackMembers(n int) []*cluster.Member {
	out := make([]*cluster.Member, n)
	for i := range out {
		out[i] = &cluster.Member{Id: strconv.Itoa(i), Host: "127.0.0.1", Port: int32(7101 + i), Kinds: []string{node.ChannelKind}}
	}
	return out
}

func podMembers(n int) []*cluster.Member {
	out := make([]*cluster.Member, n)
	for i := range out {
		out[i] = &cluster.Member{Id: strconv.Itoa(i), Host: "10.42.0." + strconv.Itoa(17+i), Port: 7001, Kinds: []string{node.ChannelKind}}
	}
	return out
}

// shares counts the keys each member owns, as fractions of a fair share, in member order.
func shares(members []*cluster.Member, owner func(key string) string) []float64 {
	count := map[string]int{}
	keys := spreadKeys()
	for _, k := range keys {
		count[owner(k)]++
	}
	fair := float64(len(keys)) / float64(len(members))
	out := make([]float64, len(members))
	for i, m := range members {
		out[i] = float64(count[m.Address()]) / fair
	}
	return out
}

func percent(fs []float64, n int) string {
	s := ""
	for i, f := range fs {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%.1f%%", 100*f/float64(n))
	}
	return s
}

// TestRingSpread: over 10,000 channels, every member of 3, 5 and 10 owns its fair share within
// 10 %. proto.actor's disthash rendezvous, measured beside it for the record, does not.
func TestRingSpread(t *testing.T) {
	for _, layout := range []struct {
		name    string
		members func(int) []*cluster.Member
	}{{"127.0.0.1:7101+", loopbackMembers}, {"10.42.0.17+:7001", podMembers}} {
		for _, n := range []int{3, 5, 10} {
			members := layout.members(n)
			r := newRing(members)
			ours := shares(members, func(k string) string { return r.owner(node.ChannelKind, k) })
			rdv := cluster.NewRendezvous()
			rdv.UpdateMembers(members)
			theirs := shares(members, func(k string) string {
				return rdv.GetByClusterIdentity(&cluster.ClusterIdentity{Kind: node.ChannelKind, Identity: k})
			})
			t.Logf("%s x%d: herald ring %s; proto.actor disthash %s", layout.name, n, percent(ours, n), percent(theirs, n))
			for i, f := range ours {
				if f < 0.9 || f > 1.1 {
					t.Errorf("%s x%d: member %d owns %.2f of a fair share", layout.name, n, i, f)
				}
			}
		}
	}
}

// TestRingMovesOnlyWhatItMust: a member that joins takes grains only from the others (none
// moves between two members that stay), a member that leaves gives up only its own grains, and
// the next in line of a grain is its owner once the owner is gone.
func TestRingMovesOnlyWhatItMust(t *testing.T) {
	members := loopbackMembers(5)
	before := newRing(members[:4])
	joined := newRing(members)
	left := newRing(members[1:4])
	moved := 0
	for _, k := range spreadKeys() {
		was, next := before.top2(node.ChannelKind, k)
		if now := joined.owner(node.ChannelKind, k); now != was {
			moved++
			if now != members[4].Address() {
				t.Fatalf("%q moved from %s to %s, not to the member that joined", k, was, now)
			}
		}
		now := left.owner(node.ChannelKind, k)
		if was != members[0].Address() && now != was {
			t.Fatalf("%q moved from %s to %s though its owner stayed", k, was, now)
		}
		if was == members[0].Address() && now != next {
			t.Fatalf("%q went to %s, not to its next in line %s", k, now, next)
		}
	}
	if moved < 1800 || moved > 2200 { // a fifth of 10,000, within 10 %
		t.Fatalf("%d of 10,000 grains moved to a fifth member", moved)
	}
}
