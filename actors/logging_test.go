package actors

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	protocluster "github.com/asynkron/protoactor-go/cluster"

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
	levels := &protoActorLevels{}
	for _, c := range cases {
		if got := levels.level(c.r); got != c.want {
			t.Errorf("%s %q: %v, want %v", c.r.Level, c.r.Message, got, c.want)
		}
	}

	// The remote's errors about a member: ERROR while it is a member (it may have died), DEBUG
	// once it has left, ERROR again once it is back.
	member := &protocluster.Member{Host: "127.0.0.1", Port: 7102, Id: "m2"}
	lost := rec(slog.LevelError, "EndpointWriter lost connection", "address", "127.0.0.1:7102",
		"error", "rpc error: code = Unavailable desc = closing transport due to: use of closed network connection")
	if got := levels.level(lost); got != slog.LevelError {
		t.Errorf("lost connection to a member: %v", got)
	}
	levels.topology(&protocluster.ClusterTopology{Left: []*protocluster.Member{member}})
	if got := levels.level(lost); got != slog.LevelDebug {
		t.Errorf("lost connection to a member that left: %v", got)
	}
	if got := levels.level(rec(slog.LevelError, "EndpointWriter failed to connect", "address", "127.0.0.1:7102")); got != slog.LevelDebug {
		t.Errorf("reconnecting to a member that left: %v", got)
	}
	levels.topology(&protocluster.ClusterTopology{Joined: []*protocluster.Member{member}})
	if got := levels.level(lost); got != slog.LevelError {
		t.Errorf("lost connection to a member that came back: %v", got)
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
	pa := protoActorLogger(logger, &protoActorLevels{})
	pa.Info("Started Activator")
	pa.Error("Bad connection to the node health status", "error", "refused")
	pa.Error("EndpointWriter failed to connect", "error", "refused")
	out := buf.String()
	if strings.Count(out, "\n") != 1 || !strings.Contains(out, `level=ERROR msg="EndpointWriter failed to connect" component=protoactor`) {
		t.Fatalf("written:\n%s", out)
	}
}
