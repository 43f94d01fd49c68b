package actors

import (
	"context"
	"fmt"
	"time"

	"github.com/herald-io/herald/actors/messages"
	"github.com/herald-io/herald/actors/node"
)

// ChannelInfo asks the channel's grain for its counts (and members, withUsers).
func (e *Engine) ChannelInfo(ctx context.Context, app *App, channel string, withUsers bool) (*ChannelInfo, error) {
	res, err := e.askChannelGrain(ctx, app.ID, channel, &messages.ChannelInfoRequest{AppId: app.ID, Channel: channel, WithUsers: withUsers})
	if err != nil {
		return nil, err
	}
	info, ok := res.(*messages.ChannelInfo)
	if !ok {
		return nil, fmt.Errorf("%w: unexpected %T", ErrUnavailable, res)
	}
	return info, nil
}

// Channels lists the app's channels with subscribers anywhere in the cluster whose names start
// with prefix. It fails with ErrUnavailable when a member does not answer in time, rather than
// return a partial list; a member that the membership reports gone meanwhile (its sockets went
// with it) is no longer waited for.
func (e *Engine) Channels(ctx context.Context, app *App, prefix string) ([]string, error) {
	members := e.n.Members()
	type answer struct {
		addr     string
		channels []string
		err      error
	}
	answers := make(chan answer, len(members))
	timeout := e.askTimeout(ctx)
	for _, addr := range members {
		go func() {
			res, err := e.system.Root.RequestFuture(node.NodeActor(addr), &messages.ListChannelsRequest{AppId: app.ID, Prefix: prefix}, timeout).Result()
			if err != nil {
				answers <- answer{addr: addr, err: fmt.Errorf("%w: member %s: %v", ErrUnavailable, addr, err)}
				return
			}
			r, ok := res.(*messages.ListChannelsResponse)
			if !ok {
				answers <- answer{addr: addr, err: fmt.Errorf("%w: member %s answered %T", ErrUnavailable, addr, res)}
				return
			}
			answers <- answer{addr: addr, channels: r.Channels}
		}()
	}
	waiting := map[string]error{} // member -> nil while it may still answer, or how it failed
	for _, addr := range members {
		waiting[addr] = nil
	}
	seen := map[string]bool{}
	var out []string
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	// Taken before any look at the membership, and again before each new look: a change
	// between a look and the wait for the next change would otherwise go unseen until the
	// deadline.
	changed := e.topologyChanged()
	for len(waiting) > 0 {
		select {
		case a := <-answers:
			if _, ok := waiting[a.addr]; !ok {
				continue
			}
			if a.err != nil && e.isMember(a.addr) {
				// A member that cannot be reached may be dead and not yet reported: wait for the
				// membership until the timeout.
				waiting[a.addr] = a.err
				continue
			}
			delete(waiting, a.addr)
			for _, ch := range a.channels {
				if !seen[ch] {
					seen[ch] = true
					out = append(out, ch)
				}
			}
		case <-changed:
			changed = e.topologyChanged()
			for addr := range waiting {
				if !e.isMember(addr) {
					delete(waiting, addr)
				}
			}
		case <-deadline.C:
			for addr, err := range waiting {
				if err == nil {
					err = fmt.Errorf("%w: member %s did not answer in time", ErrUnavailable, addr)
				}
				return nil, err
			}
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %v", ErrUnavailable, ctx.Err())
		}
	}
	return out, nil
}

// topologyChanged is closed at the next change of the cluster's members; never on one node.
func (e *Engine) topologyChanged() <-chan struct{} {
	if e.member == nil {
		return nil
	}
	return e.member.TopologyChanged()
}

// isMember reports whether address is a member now.
func (e *Engine) isMember(address string) bool {
	if e.member == nil {
		return address == e.system.Address()
	}
	return e.member.Has(address)
}
