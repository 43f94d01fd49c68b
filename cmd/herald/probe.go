package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// probeTimeout bounds the whole probe, answer included: a health check that hangs is a failed one.
const probeTimeout = 2 * time.Second

// probe is `herald probe URL`: GET URL, succeed on a 2xx answer and fail on anything else. It is
// the container image's HEALTHCHECK, which has no shell or curl to run (the image holds nothing
// but herald), e.g. `herald probe http://127.0.0.1:9601/up`.
func probe(args []string) error {
	if len(args) != 1 {
		return errors.New("usage: herald probe URL (e.g. http://127.0.0.1:9601/up); exits 0 on a 2xx answer within 2s")
	}
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, args[0], nil)
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	if res.StatusCode < 200 || res.StatusCode > 299 {
		return fmt.Errorf("probe %s: %s", args[0], res.Status)
	}
	return nil
}
