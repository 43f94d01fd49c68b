package actors

import (
	"context"
	"fmt"

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
// with prefix. It fails with ErrUnavailable when a member does not answer, rather than return a
// partial list.
func (e *Engine) Channels(ctx context.Context, app *App, prefix string) ([]string, error) {
	members := e.n.Members()
	type answer struct {
		channels []string
		err      error
	}
	answers := make(chan answer, len(members))
	for _, addr := range members {
		go func() {
			res, err := e.system.Root.RequestFuture(node.NodeActor(addr), &messages.ListChannelsRequest{AppId: app.ID, Prefix: prefix}, e.askTimeout(ctx)).Result()
			if err != nil {
				answers <- answer{err: fmt.Errorf("%w: member %s: %v", ErrUnavailable, addr, err)}
				return
			}
			r, ok := res.(*messages.ListChannelsResponse)
			if !ok {
				answers <- answer{err: fmt.Errorf("%w: member %s answered %T", ErrUnavailable, addr, res)}
				return
			}
			answers <- answer{channels: r.Channels}
		}()
	}
	seen := map[string]bool{}
	var out []string
	for range members {
		a := <-answers
		if a.err != nil {
			return nil, a.err
		}
		for _, ch := range a.channels {
			if !seen[ch] {
				seen[ch] = true
				out = append(out, ch)
			}
		}
	}
	return out, nil
}
