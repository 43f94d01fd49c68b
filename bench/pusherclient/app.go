package pusherclient

import (
	"encoding/json"
	"fmt"
	"net/url"
	"time"
)

// App is an app's credentials, to sign what its auth endpoint and backend would sign.
type App struct {
	ID, Key, Secret string
}

// ChannelAuth is the auth a private, encrypted or presence subscription sends, "key:signature";
// channelData is "" except on presence channels.
func (a App) ChannelAuth(socketID, channel, channelData string) string {
	return channelAuth(a.Key, a.Secret, socketID, channel, channelData)
}

// UserAuth is the auth pusher:signin sends with userData.
func (a App) UserAuth(socketID, userData string) string {
	return userAuth(a.Key, a.Secret, socketID, userData)
}

// PresenceAuth returns the channel_data for a presence member and the auth signing it, ready
// for Client.Subscribe. userInfo may be nil.
func (a App) PresenceAuth(socketID, channel, userID string, userInfo any) (auth, channelData string, err error) {
	cd := struct {
		UserID   string `json:"user_id"`
		UserInfo any    `json:"user_info,omitempty"`
	}{userID, userInfo}
	b, err := json.Marshal(cd)
	if err != nil {
		return "", "", fmt.Errorf("pusherclient: presence channel_data: %w", err)
	}
	return a.ChannelAuth(socketID, channel, string(b)), string(b), nil
}

// SignRequest adds auth_key, auth_timestamp (now), auth_version, body_md5 (for a body) and
// auth_signature to query, as a Pusher HTTP library signs an HTTP API request: for a caller that
// builds requests of its own (a replay, a tampered one).
func (a App) SignRequest(method, path string, query url.Values, body []byte, now time.Time) {
	signQuery(a.Key, a.Secret, method, path, query, body, now)
}

// WebSocketURL is the path a client connects to on a server at base (such as
// ws://127.0.0.1:6001), with the query pusher-js sends.
func (a App) WebSocketURL(base string) string {
	return base + "/app/" + a.Key + "?protocol=7&client=go&version=0.1&flash=false"
}
