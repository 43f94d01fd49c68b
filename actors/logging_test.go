package actors

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/herald-io/herald/telemetry"
)

// TestProtoActorLevels: proto.actor's routine steps and the errors that are the normal life of
// a cluster (seen on a 3-node automanaged cluster's start and clean SIGTERM) are DEBUG; an
// error that is not one of them keeps its level.
func TestProtoActorLevels(t *testing.T) {
	rec := func(level slog.Level, msg string, attrs ...any) slog.Record {
		r := slog.NewRecord(time.Time{}, level, msg, 0)
		r.Add(attrs...)
		return r
	}
	cases := []struct {
		r    slog.Record
		want slog.Level
	}{
		{rec(slog.LevelInfo, "Started Activator"), slog.LevelDebug},
		{rec(slog.LevelInfo, "[DeadLetter]", "pid", "x"), slog.LevelDebug},
		{rec(slog.LevelError, "Bad connection to the node health status", "error", "connection refused"), slog.LevelDebug},
		{rec(slog.LevelError, "Failure reaching nodes"), slog.LevelDebug},
		{rec(slog.LevelWarn, "Got gossip request from unknown member", "MemberId", "x"), slog.LevelDebug},
		{rec(slog.LevelWarn, "sendGossipForMember failed", "MemberId", "x", "error", "future: timeout"), slog.LevelDebug},
		{rec(slog.LevelError, "EndpointWriter lost connection", "address", "127.0.0.1:7102",
			"error", "rpc error: code = Canceled desc = grpc: the client connection is closing"), slog.LevelDebug},
		{rec(slog.LevelError, "EndpointReader failed to send disconnection message", "error", "transport is closing"), slog.LevelDebug},
		{rec(slog.LevelError, "Automanaged server stopping..!", "error", "http: Server closed"), slog.LevelDebug},
		// Not the normal life of a cluster: kept.
		{rec(slog.LevelError, "Automanaged server stopping..!", "error", "listen tcp :6331: bind: address already in use"), slog.LevelError},
		{rec(slog.LevelError, "EndpointWriter lost connection", "error", "rpc error: code = Unavailable desc = EOF"), slog.LevelError},
		{rec(slog.LevelError, "EndpointWriter failed to connect", "error", "connection refused"), slog.LevelError},
		{rec(slog.LevelWarn, "Request retried but failed"), slog.LevelWarn},
	}
	for _, c := range cases {
		if got := protoActorLevel(c.r); got != c.want {
			t.Errorf("%s %q: %v, want %v", c.r.Level, c.r.Message, got, c.want)
		}
	}
}

// TestProtoActorLoggerAtInfo: through the logger proto.actor gets, the demoted records are gone
// at level info, the others are written with component=protoactor.
func TestProtoActorLoggerAtInfo(t *testing.T) {
	var buf bytes.Buffer
	logger, err := telemetry.NewLogger(&buf, "info", "text")
	if err != nil {
		t.Fatal(err)
	}
	pa := protoActorLogger(logger)
	pa.Info("Started Activator")
	pa.Error("Bad connection to the node health status", "error", "refused")
	pa.Error("EndpointWriter failed to connect", "error", "refused")
	out := buf.String()
	if strings.Count(out, "\n") != 1 || !strings.Contains(out, `level=ERROR msg="EndpointWriter failed to connect" component=protoactor`) {
		t.Fatalf("written:\n%s", out)
	}
}
