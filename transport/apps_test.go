package transport_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/herald-io/herald/bench/pusherclient"
	"github.com/herald-io/herald/configs"
	"github.com/herald-io/herald/protocol"
)

// A change of apps while the node runs leaves what a restart with the new apps would: sockets
// of a disabled app get 4003, of a removed app or a changed key 4001; a rotated secret keeps the
// sockets but signs only with the new secret from then on; the other apps' sockets are untouched.
func TestUpdateAppsRevokesSockets(t *testing.T) {
	same, disabled, removed, rekeyed, rotated := newApp("1"), newApp("2"), newApp("3"), newApp("4"), newApp("5")
	ws, httpBase, srv, eng := startServer(t, same, disabled, removed, rekeyed, rotated)
	conns := map[*configs.App]*pusherclient.Client{}
	for _, a := range []*configs.App{same, disabled, removed, rekeyed, rotated} {
		conns[a] = dial(t, ws, a)
	}
	subscribePrivate(t, conns[rotated], rotated, "private-before")
	oldRotated := *rotated

	disabledNow := *disabled
	disabledNow.Enabled = false
	rekeyedNow := *rekeyed
	rekeyedNow.Key = "4-new-key"
	rotatedNow := *rotated
	rotatedNow.Secret = "5-new-secret"
	added := newApp("6")
	srv.UpdateApps([]configs.App{*same, disabledNow, rekeyedNow, rotatedNow, *added})

	for _, tc := range []struct {
		app  *configs.App
		code int
	}{{disabled, protocol.CodeAppDisabled}, {removed, protocol.CodeAppNotFound}, {rekeyed, protocol.CodeAppNotFound}} {
		c := conns[tc.app]
		if e := expectPusherError(t, c); e.Code == nil || *e.Code != tc.code {
			t.Errorf("app %s: pusher:error %+v, want code %d", tc.app.ID, e, tc.code)
		}
		if code := closeCode(t, c); code != tc.code {
			t.Errorf("app %s: closed with %d, want %d", tc.app.ID, code, tc.code)
		}
	}
	waitConnections(t, eng, disabled, 0)
	pingPong(t, conns[same])
	pingPong(t, conns[rotated])

	// New sockets: as at connect time.
	for _, tc := range []struct {
		url  string
		code int
	}{
		{creds(disabled).WebSocketURL(ws), protocol.CodeAppDisabled},
		{creds(removed).WebSocketURL(ws), protocol.CodeAppNotFound},
		{creds(rekeyed).WebSocketURL(ws), protocol.CodeAppNotFound},
	} {
		_, err := pusherclient.Dial(testCtx(t), tc.url)
		var ce *pusherclient.CloseError
		if !errors.As(err, &ce) || ce.Code != tc.code {
			t.Errorf("dial %s: %v, want close %d", tc.url, err, tc.code)
		}
	}
	pingPong(t, dial(t, ws, &rekeyedNow))
	pingPong(t, dial(t, ws, added))

	// The rotated secret: the old one signs nothing any more, on the open socket or the API.
	c := conns[rotated]
	_, err := c.Subscribe(testCtx(t), "private-after", creds(&oldRotated).ChannelAuth(c.SocketID(), "private-after", ""), "")
	var se *pusherclient.SubscriptionError
	if !errors.As(err, &se) {
		t.Fatalf("subscribe signed with the old secret: %v, want a subscription error", err)
	}
	subscribePrivate(t, c, &rotatedNow, "private-after")
	for _, tc := range []struct {
		app    *configs.App
		status int
	}{
		{&oldRotated, http.StatusUnauthorized}, {&rotatedNow, http.StatusOK},
		{disabled, http.StatusForbidden}, {removed, http.StatusNotFound}, {added, http.StatusOK},
	} {
		status, body := apiDo(t, apiFor(httpBase, tc.app), http.MethodGet, "/apps/"+tc.app.ID+"/channels", nil, nil)
		if status != tc.status {
			t.Errorf("GET /channels of app %s signed with %q: %d %s, want %d", tc.app.ID, tc.app.Secret, status, body, tc.status)
		}
	}
}
