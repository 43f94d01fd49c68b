package transport

import (
	"github.com/herald-io/herald/configs"
	"github.com/herald-io/herald/protocol"
)

// The refusals of an app at connect time, also sent to the open sockets a change of apps revokes.
const appDisabled = "App is disabled"

func appNotFound(key string) string { return "App key " + key + " does not exist" }

// UpdateApps makes apps the node's apps while it runs (a reload, a change in the apps database)
// and leaves open only the sockets the new apps would admit, so that a change is the state a
// restart with it would give: a socket whose app was disabled gets pusher:error and close 4003,
// one whose key is gone (the app removed, or its key changed) 4001; pusher-js does not reconnect
// after either. Every other change (secret, options, limits) keeps the sockets and applies to
// what they do next: a subscription after a secret rotation must be signed with the new secret.
func (s *Server) UpdateApps(apps []configs.App) {
	s.engine.UpdateApps(apps)
	for _, sock := range s.sockets.all() {
		if code, msg := s.revoked(sock); code != 0 {
			sock.sendError(code, msg)
		}
	}
}

// revoked is the close code and message for an open socket that the node's apps no longer
// admit, 0 for one they do.
func (s *Server) revoked(sock *socket) (code int, message string) {
	app, ok := s.engine.AppByKey(sock.key)
	switch {
	case !ok || app != sock.app:
		return protocol.CodeAppNotFound, appNotFound(sock.key)
	case !app.Settings().Enabled:
		return protocol.CodeAppDisabled, appDisabled
	}
	return 0, ""
}
