package connection

import "iter"

// subscriptionSet holds a connection's subscriptions by channel name. Most sockets hold one or a
// few, and a Go map pays for a group of eight slots (about 200 bytes) from its first entry,
// which an idle socket keeps for its life. So up to fewSubscriptions they sit in a slice searched
// in order, 8 bytes each; past that, in a map. The zero value is empty.
type subscriptionSet struct {
	few  []*subscription          // while many is nil
	many map[string]*subscription // once the set outgrew few (it stays a map)
}

// fewSubscriptions is the most the slice holds: a search of 16 names costs about what a map
// lookup does.
const fewSubscriptions = 16

func (s *subscriptionSet) get(name string) (*subscription, bool) {
	if s.many != nil {
		sub, ok := s.many[name]
		return sub, ok
	}
	for _, sub := range s.few {
		if sub.channel.Name == name {
			return sub, true
		}
	}
	return nil, false
}

func (s *subscriptionSet) len() int {
	if s.many != nil {
		return len(s.many)
	}
	return len(s.few)
}

// add puts sub under its channel's name, which the set must not hold yet.
func (s *subscriptionSet) add(sub *subscription) {
	switch {
	case s.many != nil:
		s.many[sub.channel.Name] = sub
	case len(s.few) < fewSubscriptions:
		s.few = append(s.few, sub)
	default:
		s.many = make(map[string]*subscription, 2*fewSubscriptions)
		for _, f := range s.few {
			s.many[f.channel.Name] = f
		}
		s.many[sub.channel.Name] = sub
		s.few = nil
	}
}

// remove takes the subscription to name out of the set, if it holds one.
func (s *subscriptionSet) remove(name string) (*subscription, bool) {
	if s.many != nil {
		sub, ok := s.many[name]
		delete(s.many, name)
		return sub, ok
	}
	for i, sub := range s.few {
		if sub.channel.Name == name {
			last := len(s.few) - 1
			s.few[i], s.few[last] = s.few[last], nil
			s.few = s.few[:last]
			return sub, true
		}
	}
	return nil, false
}

// all yields every subscription, in no particular order; the set must not change meanwhile.
func (s *subscriptionSet) all() iter.Seq[*subscription] {
	return func(yield func(*subscription) bool) {
		if s.many != nil {
			for _, sub := range s.many {
				if !yield(sub) {
					return
				}
			}
			return
		}
		for _, sub := range s.few {
			if !yield(sub) {
				return
			}
		}
	}
}
