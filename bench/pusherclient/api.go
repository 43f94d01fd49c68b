package pusherclient

import (
	"strconv"

	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// maxResponse bounds how much of an HTTP API response is read.
const maxResponse = 16 << 20

// API is a client of a Pusher server's HTTP API that signs every request as the Pusher server
// libraries do (this package's own signing, see sign.go).
type API struct {
	// BaseURL is the server's scheme, host and port, such as http://127.0.0.1:6001; paths are
	// appended to it and signed as given.
	BaseURL string
	App     App
	// HTTP sends the requests; nil means http.DefaultClient.
	HTTP *http.Client
	// Now is the signing clock; nil means time.Now. Tests set it to sign with a skewed clock.
	Now func() time.Time
}

// APIError is a response with a status outside 2xx.
type APIError struct {
	Status int
	Body   string
	// RetryAfter is the Retry-After header of the answer (whole seconds): when the server asks
	// the caller to send the request again, and when. Zero when it does not.
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	return fmt.Sprintf("pusherclient: HTTP %d: %s", e.Status, strings.TrimSpace(e.Body))
}

// TriggerOptions are the optional fields of a trigger.
type TriggerOptions struct {
	// SocketID excludes that connection from receiving the event.
	SocketID string
	// Info asks for channel attributes in the response: "user_count" (presence channels),
	// "subscription_count".
	Info []string
}

// ChannelInfo is what the API reports about a channel, in trigger responses and
// GET /apps/{id}/channels/{name}; an attribute that was not asked for is nil.
type ChannelInfo struct {
	Occupied          bool `json:"occupied,omitempty"`
	UserCount         *int `json:"user_count,omitempty"`
	SubscriptionCount *int `json:"subscription_count,omitempty"`
}

// TriggerResult is the body of a successful trigger; Channels is filled only when
// TriggerOptions.Info asked for attributes.
type TriggerResult struct {
	Channels map[string]ChannelInfo `json:"channels,omitempty"`
}

// BatchEvent is one event of TriggerBatch.
type BatchEvent struct {
	Channel  string `json:"channel"`
	Name     string `json:"name"`
	Data     string `json:"data"`
	SocketID string `json:"socket_id,omitempty"`
	Info     string `json:"info,omitempty"` // comma-separated, as in TriggerOptions.Info
}

// BatchResult is the body of a successful TriggerBatch; Batch has one entry per event when any
// event asked for Info.
type BatchResult struct {
	Batch []ChannelInfo `json:"batch,omitempty"`
}

// AppPath is "/apps/{id}" followed by suffix, such as "/channels".
func (a *API) AppPath(suffix string) string { return "/apps/" + a.App.ID + suffix }

// Trigger publishes one event to channels: POST /apps/{id}/events.
func (a *API) Trigger(ctx context.Context, channels []string, event, data string, opts TriggerOptions) (*TriggerResult, error) {
	body, err := json.Marshal(struct {
		Name     string   `json:"name"`
		Channels []string `json:"channels"`
		Data     string   `json:"data"`
		SocketID string   `json:"socket_id,omitempty"`
		Info     string   `json:"info,omitempty"`
	}{event, channels, data, opts.SocketID, strings.Join(opts.Info, ",")})
	if err != nil {
		return nil, fmt.Errorf("pusherclient: trigger body: %w", err)
	}
	var res TriggerResult
	if _, err := a.call(ctx, http.MethodPost, a.AppPath("/events"), nil, body, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// TriggerBatch publishes several events in one request: POST /apps/{id}/batch_events.
func (a *API) TriggerBatch(ctx context.Context, events []BatchEvent) (*BatchResult, error) {
	body, err := json.Marshal(struct {
		Batch []BatchEvent `json:"batch"`
	}{events})
	if err != nil {
		return nil, fmt.Errorf("pusherclient: batch body: %w", err)
	}
	var res BatchResult
	if _, err := a.call(ctx, http.MethodPost, a.AppPath("/batch_events"), nil, body, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// Get sends a signed GET of path (the full path, such as AppPath("/channels")) and decodes a
// 2xx JSON body into out, when out is not nil. A non-2xx status is an *APIError; the status is
// returned either way once a response has arrived.
func (a *API) Get(ctx context.Context, path string, query url.Values, out any) (int, error) {
	return a.call(ctx, http.MethodGet, path, query, nil, out)
}

func (a *API) call(ctx context.Context, method, path string, query url.Values, body []byte, out any) (int, error) {
	status, resp, header, err := a.do(ctx, method, path, query, body)
	if err != nil {
		return status, err
	}
	if status < 200 || status > 299 {
		apiErr := &APIError{Status: status, Body: string(resp)}
		if secs, err := strconv.Atoi(header.Get("Retry-After")); err == nil && secs > 0 {
			apiErr.RetryAfter = time.Duration(secs) * time.Second
		}
		return status, apiErr
	}
	if out != nil && len(bytes.TrimSpace(resp)) > 0 {
		if err := json.Unmarshal(resp, out); err != nil {
			return status, fmt.Errorf("pusherclient: %s %s: decode response %q: %w", method, path, resp, err)
		}
	}
	return status, nil
}

// Do sends a request and returns its status and body whatever the status, for tests of bad
// input. It signs a copy of query, unless query already holds auth_signature, in which case it
// is sent as it is (so a test can send a hand-made, wrong signature).
func (a *API) Do(ctx context.Context, method, path string, query url.Values, body []byte) (int, []byte, error) {
	status, b, _, err := a.do(ctx, method, path, query, body)
	return status, b, err
}

func (a *API) do(ctx context.Context, method, path string, query url.Values, body []byte) (int, []byte, http.Header, error) {
	q := make(url.Values, len(query)+5)
	for k, v := range query {
		q[k] = append([]string(nil), v...)
	}
	if !q.Has("auth_signature") {
		now := time.Now
		if a.Now != nil {
			now = a.Now
		}
		signQuery(a.App.Key, a.App.Secret, method, path, q, body, now())
	}
	u, err := url.Parse(a.BaseURL)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("pusherclient: base URL: %w", err)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	u.RawPath = ""
	u.RawQuery = q.Encode()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("pusherclient: %s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := a.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("pusherclient: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return resp.StatusCode, b, resp.Header, fmt.Errorf("pusherclient: %s %s: read response: %w", method, path, err)
	}
	return resp.StatusCode, b, resp.Header, nil
}
