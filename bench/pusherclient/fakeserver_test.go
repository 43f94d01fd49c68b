package pusherclient

import (
	"crypto/hmac"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
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
			_ = socket.WriteMessage(gws.OpcodeText, errorFrame(codeAppNotFound, "App key not found"))
			_ = socket.WriteClose(codeAppNotFound, []byte("App key not found"))
		} else if !fs.silent {
			d, _ := json.Marshal(map[string]any{"socket_id": st.socketID, "activity_timeout": fakeActivityTimeout})
			_ = socket.WriteMessage(gws.OpcodeText, eventFrame(EventConnectionEstablished, "", string(d)))
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
	var f struct {
		Event string          `json:"event"`
		Data  json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(msg.Bytes(), &f); err != nil || f.Event == "" {
		send(errorFrame(0, "bad frame"))
		return
	}
	var arg struct {
		N      int    `json:"n"`
		Code   int    `json:"code"`
		Reason string `json:"reason"`
	}
	_ = decodeData(f.Data, &arg)
	switch f.Event {
	case EventPing:
		send(pongFrame)
	case EventPong:
		st.pongs.Add(1)
	case EventSubscribe:
		var sd subscribeData
		if err := decodeData(f.Data, &sd); err != nil {
			send(errorFrame(0, err.Error()))
			return
		}
		if sd.Channel == "" || strings.ContainsAny(sd.Channel, " ,:") {
			send(subscriptionErrorFrame(sd.Channel, SubscriptionErrorInvalid, "invalid channel name", 400))
			return
		}
		presence := strings.HasPrefix(sd.Channel, "presence-")
		if (presence || strings.HasPrefix(sd.Channel, "private-")) && !verifyAuth(sd.Auth, channelAuth(testApp.Key, testApp.Secret, st.socketID, sd.Channel, sd.ChannelData)) {
			send(subscriptionErrorFrame(sd.Channel, SubscriptionErrorAuth, "Invalid signature", 401))
			return
		}
		data := "{}"
		if presence {
			var cd struct {
				UserID   string          `json:"user_id"`
				UserInfo json.RawMessage `json:"user_info"`
			}
			if err := json.Unmarshal([]byte(sd.ChannelData), &cd); err != nil || cd.UserID == "" {
				send(subscriptionErrorFrame(sd.Channel, SubscriptionErrorAuth, "bad channel_data", 400))
				return
			}
			info := string(cd.UserInfo)
			if info == "" {
				info = "null"
			}
			id, _ := json.Marshal(cd.UserID)
			data = `{"presence":{"ids":[` + string(id) + `],"hash":{` + string(id) + `:` + info + `},"count":1}}`
		}
		send(eventFrame(EventSubscriptionSucceeded, sd.Channel, data))
	case EventSignin:
		var sd struct {
			Auth     string `json:"auth"`
			UserData string `json:"user_data"`
		}
		if err := decodeData(f.Data, &sd); err != nil || !verifyAuth(sd.Auth, userAuth(testApp.Key, testApp.Secret, st.socketID, sd.UserData)) {
			send(errorFrame(codeUnauthorized, "Invalid signature"))
			return
		}
		b, _ := json.Marshal(map[string]string{"user_data": sd.UserData})
		send(eventFrame(EventSigninSuccess, "", string(b)))
	case "test:echo-client-event":
		// What another member would receive from a client event on a presence channel.
		b, _ := json.Marshal(map[string]any{"event": "client-echo", "channel": "presence-room", "data": f.Data, "user_id": "user-7"})
		send(b)
	case "test:burst":
		for i := range arg.N {
			send(eventFrame("burst", "c", strconv.Itoa(i)))
		}
		send(eventFrame("burst-done", "c", ""))
	case "test:send-ping":
		send([]byte(`{"event":"pusher:ping","data":"{}"}`))
	case "test:report-pongs":
		send(eventFrame("pongs", "", strconv.FormatInt(st.pongs.Load(), 10)))
	case "test:close":
		send(eventFrame("closing", "", ""))
		_ = socket.WriteClose(uint16(arg.Code), []byte(arg.Reason))
	case "test:drop":
		_ = socket.NetConn().Close()
	case "test:not-json":
		send([]byte("not json"))
	case "test:ws-ping":
		_ = socket.WritePing([]byte("hello"))
	}
}

// Pusher close and error codes the tests use.
const (
	codeAppNotFound     = 4001
	codeUnauthorized    = 4009
	codePongNotReceived = 4201
	httpTimestampWindow = 600 * time.Second
	fakeActivityTimeout = 30
)

// eventFrame encodes a server frame with data as a JSON string, the protocol's double encoding.
func eventFrame(event, channel, data string) []byte {
	f := map[string]string{"event": event, "data": data}
	if channel != "" {
		f["channel"] = channel
	}
	b, _ := json.Marshal(f)
	return b
}

func errorFrame(code int, message string) []byte {
	var c any
	if code != 0 {
		c = code
	}
	d, _ := json.Marshal(map[string]any{"code": c, "message": message})
	b, _ := json.Marshal(map[string]any{"event": EventError, "data": json.RawMessage(d)})
	return b
}

func subscriptionErrorFrame(channel, typ, message string, status int) []byte {
	d, _ := json.Marshal(map[string]any{"type": typ, "error": message, "status": status})
	return eventFrame(EventSubscriptionError, channel, string(d))
}

func verifyAuth(got, want string) bool { return hmac.Equal([]byte(got), []byte(want)) }

// verifyRequest checks a signed HTTP API request as a Pusher server must: every auth field
// present, the timestamp within the window, body_md5 and the signature.
func verifyRequest(r *http.Request, body []byte) error {
	q := r.URL.Query()
	if q.Get("auth_key") == "" || q.Get("auth_timestamp") == "" || q.Get("auth_version") == "" || q.Get("auth_signature") == "" {
		return errors.New("missing auth_key, auth_timestamp, auth_version or auth_signature")
	}
	if q.Get("auth_key") != testApp.Key {
		return errors.New("unknown auth_key")
	}
	ts, err := strconv.ParseInt(q.Get("auth_timestamp"), 10, 64)
	if d := time.Since(time.Unix(ts, 0)); err != nil || d > httpTimestampWindow || d < -httpTimestampWindow {
		return errors.New("auth_timestamp outside the window")
	}
	if len(body) > 0 || q.Has("body_md5") {
		sum := md5.Sum(body)
		if q.Get("body_md5") != hex.EncodeToString(sum[:]) {
			return errors.New("body_md5 does not match the body")
		}
	}
	if !verifyAuth(q.Get("auth_signature"), hmacHex(testApp.Secret, stringToSign(r.Method, r.URL.Path, q))) {
		return errors.New("invalid auth_signature")
	}
	return nil
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
	if err := verifyRequest(r, body); err != nil {
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
