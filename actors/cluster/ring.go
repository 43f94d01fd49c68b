package cluster

import (
	"slices"

	"github.com/asynkron/protoactor-go/cluster"
	"github.com/cespare/xxhash/v2"
)

// ring places grains on members by rendezvous (highest random weight) hashing: each member
// scores each grain, and the highest score owns it. A member that joins takes only the grains it
// now scores highest on, a member that leaves gives up only its own, so a topology change moves
// no grain it does not have to. The member with the second-highest score is where a grain's state
// is kept in case its owner dies: it is also the grain's next owner.
//
// proto.actor's own rendezvous scores with FNV-32a of key and address written one after the
// other; addresses that differ only in their last digits (127.0.0.1:7101 ... 7103, pod IPs)
// then score alike and one member takes about half of three members' grains. Here the key and
// the member are hashed apart (xxhash) and their combination goes through a full 64-bit
// finaliser, so every bit of the member's hash moves every bit of the score.
type ring struct {
	members []ringMember
}

type ringMember struct {
	address string
	hash    uint64
}

// newRing is the ring of members (every herald member serves every grain kind).
func newRing(members []*cluster.Member) *ring {
	r := &ring{members: make([]ringMember, 0, len(members))}
	for _, m := range members {
		addr := m.Address()
		r.members = append(r.members, ringMember{address: addr, hash: xxhash.Sum64String(addr)})
	}
	// A stable order, so that equal scores (never seen, but possible) break the same way everywhere.
	slices.SortFunc(r.members, func(a, b ringMember) int {
		switch {
		case a.address < b.address:
			return -1
		case a.address > b.address:
			return 1
		}
		return 0
	})
	return r
}

// score is the weight of member for a key whose hash is key: splitmix64's finaliser of the two
// hashes combined.
func score(key, member uint64) uint64 {
	z := key ^ member
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// owner is the address of the member that owns the grain of kind and identity, "" without members.
func (r *ring) owner(kind, identity string) string {
	first, _ := r.top2(kind, identity)
	return first
}

// top2 are the owner of the grain and the member next in line ("" when there is none).
func (r *ring) top2(kind, identity string) (first, second string) {
	d := xxhash.New()
	_, _ = d.WriteString(kind)
	_, _ = d.WriteString("/")
	_, _ = d.WriteString(identity)
	key := d.Sum64()
	var s1, s2 uint64
	i1, i2 := -1, -1
	for i, m := range r.members {
		s := score(key, m.hash)
		switch {
		case i1 < 0 || s > s1:
			s2, i2 = s1, i1
			s1, i1 = s, i
		case i2 < 0 || s > s2:
			s2, i2 = s, i
		}
	}
	if i1 >= 0 {
		first = r.members[i1].address
	}
	if i2 >= 0 {
		second = r.members[i2].address
	}
	return first, second
}
