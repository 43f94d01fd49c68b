package webhooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/herald-io/herald/configs"
	"github.com/herald-io/herald/protocol"
	"github.com/herald-io/herald/telemetry"
)

// errTimeout ends a POST that has no full answer within the timeout.
var errTimeout = errors.New("no answer within the timeout")

// statusError is a POST answered with something other than a 2xx.
type statusError int

func (e statusError) Error() string { return "status " + strconv.Itoa(int(e)) }

// post sends one webhook body to target with app's key and signature, and reports the status
// (0 without a response) and nil for a 2xx. The timeout runs on the delivery's clock.
func (d *Delivery) post(app *configs.App, target string, body []byte, events int) (status int, err error) {
	ctx, cancel := context.WithCancelCause(d.postCtx)
	defer cancel(nil)
	timer := d.clock.AfterFunc(d.cfg.Timeout, func() { cancel(errTimeout) })
	defer timer.Stop()

	ctx, span := d.tel.StartWebhookSpan(ctx, app.ID, target, events)
	defer func() {
		var statusErr statusError
		if errors.As(err, &statusErr) {
			telemetry.EndWebhookSpan(span, status, nil) // the status marks it failed
		} else {
			telemetry.EndWebhookSpan(span, status, err)
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("webhook request: %w", err)
	}
	telemetry.InjectHTTP(ctx, req)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Pusher-Key", app.Key)
	req.Header.Set("X-Pusher-Signature", protocol.Sign(app.Secret, string(body)))
	res, err := d.client.Do(req)
	if err != nil {
		return 0, d.postError(ctx, err)
	}
	// Read a little of the answer so that the connection can be reused: a receiver has no
	// reason to say much. The status decides; an answer cut short after a 2xx still delivered
	// the batch, and sending it again would only make a duplicate.
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	_ = res.Body.Close()
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return res.StatusCode, statusError(res.StatusCode)
	}
	return res.StatusCode, nil
}

// postError says why a POST got no (full) answer, without repeating the URL, which the logs
// carry redacted.
func (d *Delivery) postError(ctx context.Context, err error) error {
	if errors.Is(context.Cause(ctx), errTimeout) {
		return fmt.Errorf("%w (%v)", errTimeout, d.cfg.Timeout)
	}
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err
	}
	return err
}
