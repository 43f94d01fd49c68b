package pusherclient

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lxzan/gws"

	"github.com/herald-io/herald/protocol"
)

var testApp = App{ID: "1", Key: "app-key", Secret: "app-secret"}

// fakeServer speaks just enough of the protocol to exercise the client, plus test:* events that
// make it misbehave on demand.
type fakeServer struct {
	t        *testing.T
	srv      *httptest.Server
	upgrader *gws.Upgrader
	silent   bool // never send connection_established
	nextID   atomic.Int64
}

func newFakeServer(t *testing.T) *fakeServer {
	t.Helper()
	fs := &fakeServer{t: t}
	fs.upgrader = gws.NewUpgrader(fs, &gws.ServerOption{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /app/{key}", fs.serveWS)
	mux.HandleFunc("/apps/{id}/", fs.serveAPI)
	fs.srv = httptest.NewUnstartedServer(mux)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fs.srv.Listener = ln
	fs.srv.Start()
	t.Cleanup(fs.srv.Close)
	return fs
}

func (fs *fakeServer) wsURL(key string) string {
	return App{Key: key}.WebSocketURL("ws" + strings.TrimPrefix(fs.srv.URL, "http"))
}

func (fs *fakeServer) api(app App) *API {
	return &API{BaseURL: fs.srv.URL, App: app, HTTP: fs.srv.Client()}
}

type connState struct {
	socketID string
	pongs    atomic.Int64
}

func (fs *fakeServer) serveWS(w http.ResponseWriter, r *http.Request) {
	socket, err := fs.upgrader.Upgrade(w, r)
	if err != nil {
		return
	}
	st := &connState{socketID: fmt.Sprintf("%d.%d", 1000+fs.nextID.Add(1), 42)}
	socket.Session().Store("state", st)
	go func() {
		if r.PathValue("key") != testApp.Key {
			_ = socket.WriteMessage(gws.OpcodeText, protocol.ErrorFrame(protocol.CodeAppNotFound, "App key not found"))
			_ = socket.WriteClose(protocol.CodeAppNotFound, []byte("App key not found"))
		} else if !fs.silent {
			_ = socket.WriteMessage(gws.OpcodeText, protocol.ConnectionEstablishedFrame(st.socketID, 30))
		}
		socket.ReadLoop()
	}()
}

func (fs *fakeServer) OnOpen(*gws.Conn)                        {}
func (fs *fakeServer) OnClose(*gws.Conn, error)                {}
func (fs *fakeServer) OnPing(socket *gws.Conn, payload []byte) { _ = socket.WritePong(payload) }
func (fs *fakeServer) OnPong(*gws.Conn, []byte)                {}

func (fs *fakeServer) OnMessage(socket *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	v, _ := socket.Session().Load("state")
	st := v.(*connState)
	send := func(b []byte) { _ = socket.WriteMessage(gws.OpcodeText, b) }
	f, err := protocol.DecodeFrame(msg.Bytes())
	if err != nil {
		send(protocol.ErrorFrame(0, "bad frame"))
		return
	}
	var arg struct {
		N      int    `json:"n"`
		Code   int    `json:"code"`
		Reason string `json:"reason"`
	}
	_ = protocol.DecodeData(f.Data, &arg)
	switch f.Event {
	case protocol.EventPing:
		send(protocol.PongFrame)
	case protocol.EventPong:
		st.pongs.Add(1)
	case protocol.EventSubscribe:
		var sd protocol.SubscribeData
		if err := protocol.DecodeData(f.Data, &sd); err != nil {
			send(protocol.ErrorFrame(0, err.Error()))
			return
		}
		ch, err := protocol.ParseChannel(sd.Channel, 0)
		if err != nil {
			send(protocol.SubscriptionErrorFrame(sd.Channel, protocol.SubscriptionErrorInvalid, err.Error(), 400))
			return
		}
		if ch.Kind.NeedsAuth() && !protocol.VerifyChannelAuth(testApp.Key, testApp.Secret, st.socketID, sd.Channel, sd.ChannelData, sd.Auth) {
			send(protocol.SubscriptionErrorFrame(sd.Channel, protocol.SubscriptionErrorAuth, "Invalid signature", 401))
			return
		}
		data := "{}"
		if ch.Kind == protocol.Presence {
			pd, err := protocol.ParsePresenceChannelData(sd.ChannelData)
			if err != nil {
				send(protocol.SubscriptionErrorFrame(sd.Channel, protocol.SubscriptionErrorAuth, err.Error(), 400))
				return
			}
			info := string(pd.UserInfo)
			if info == "" {
				info = "null"
			}
			id := string(protocol.AppendJSONString(nil, pd.UserID))
			data = `{"presence":{"ids":[` + id + `],"hash":{` + id + `:` + info + `},"count":1}}`
		}
		send(protocol.AppendEvent(nil, protocol.EventSubscriptionSucceeded, sd.Channel, data, ""))
	case protocol.EventSignin:
		var sd protocol.SigninData
		if err := protocol.DecodeData(f.Data, &sd); err != nil || !protocol.VerifyUserAuth(testApp.Key, testApp.Secret, st.socketID, sd.UserData, sd.Auth) {
			send(protocol.ErrorFrame(protocol.CodeUnauthorized, "Invalid signature"))
			return
		}
		b, _ := json.Marshal(map[string]string{"user_data": sd.UserData})
		send(protocol.AppendEvent(nil, protocol.EventSigninSuccess, "", string(b), ""))
	case "test:echo-client-event":
		// What another member would receive from a client event on a presence channel.
		send(protocol.AppendEventRawData(nil, "client-echo", "presence-room", f.Data, "user-7"))
	case "test:burst":
		for i := range arg.N {
			send(protocol.AppendEvent(nil, "burst", "c", strconv.Itoa(i), ""))
		}
		send(protocol.AppendEvent(nil, "burst-done", "c", "", ""))
	case "test:send-ping":
		send(protocol.PingFrame)
	case "test:report-pongs":
		send(protocol.AppendEvent(nil, "pongs", "", strconv.FormatInt(st.pongs.Load(), 10), ""))
	case "test:close":
		send(protocol.AppendEvent(nil, "closing", "", "", ""))
		_ = socket.WriteClose(uint16(arg.Code), []byte(arg.Reason))
	case "test:drop":
		_ = socket.NetConn().Close()
	case "test:not-json":
		send([]byte("not json"))
	case "test:ws-ping":
		_ = socket.WritePing([]byte("hello"))
	}
}

// serveAPI answers /apps/{id}/... after checking the signature as a Pusher server must.
func (fs *fakeServer) serveAPI(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	writeJSON := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	if r.PathValue("id") != testApp.ID {
		writeJSON(http.StatusNotFound, map[string]string{"error": "unknown app"})
		return
	}
	if err := protocol.VerifyHTTPRequest(testApp.Key, testApp.Secret, r.Method, r.URL.Path, r.URL.Query(), body, time.Now(), protocol.HTTPTimestampWindow); err != nil {
		writeJSON(http.StatusUnauthorized, map[string]string{"error": err.Error()})
		return
	}
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/apps/1/events":
		var ev struct {
			Name     string   `json:"name"`
			Channels []string `json:"channels"`
			Data     string   `json:"data"`
			SocketID string   `json:"socket_id"`
			Info     string   `json:"info"`
		}
		if err := json.Unmarshal(body, &ev); err != nil || ev.Name == "" {
			writeJSON(http.StatusBadRequest, map[string]string{"error": "bad event"})
			return
		}
		if ev.Info == "" {
			writeJSON(http.StatusOK, struct{}{})
			return
		}
		chans := map[string]map[string]int{}
		for _, c := range ev.Channels {
			chans[c] = map[string]int{"subscription_count": len(ev.Data)}
		}
		writeJSON(http.StatusOK, map[string]any{"channels": chans})
	case r.Method == http.MethodPost && r.URL.Path == "/apps/1/batch_events":
		var b struct {
			Batch []BatchEvent `json:"batch"`
		}
		if err := json.Unmarshal(body, &b); err != nil {
			writeJSON(http.StatusBadRequest, map[string]string{"error": "bad batch"})
			return
		}
		out := make([]map[string]int, len(b.Batch))
		for i, e := range b.Batch {
			out[i] = map[string]int{"subscription_count": len(e.Name)}
		}
		writeJSON(http.StatusOK, map[string]any{"batch": out})
	case r.Method == http.MethodGet && r.URL.Path == "/apps/1/channels":
		writeJSON(http.StatusOK, map[string]any{"channels": map[string]any{r.URL.Query().Get("filter_by_prefix") + "x": map[string]int{"user_count": 3}}})
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/apps/1/channels/"):
		writeJSON(http.StatusOK, map[string]any{"occupied": true, "name": strings.TrimPrefix(r.URL.Path, "/apps/1/channels/")})
	default:
		writeJSON(http.StatusNotFound, map[string]string{"error": "no such endpoint"})
	}
}
