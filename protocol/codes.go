package protocol

// Close codes and pusher:error codes, from the Pusher Channels protocol. The ranges tell a client
// what to do: 4000-4099 do not reconnect, 4100-4199 reconnect after backing off, 4200-4299
// reconnect at once, 4300-4399 other errors (the connection stays open).
const (
	CodeSSLOnly                 = 4000
	CodeAppNotFound             = 4001
	CodeAppDisabled             = 4003
	CodeOverConnectionQuota     = 4004
	CodePathNotFound            = 4005
	CodeInvalidVersion          = 4006
	CodeUnsupportedVersion      = 4007
	CodeNoProtocolVersion       = 4008
	CodeUnauthorized            = 4009
	CodeOverCapacity            = 4100
	CodeGenericReconnect        = 4200
	CodePongNotReceived         = 4201
	CodeClosedAfterInactivity   = 4202
	CodeClientEventRateLimited  = 4301
	CodeWriteQueueFull          = 4100 // a slow consumer: reconnect after backing off
	SupportedProtocolVersion    = 7
	MinSupportedProtocolVersion = 5
)

// Error types carried in pusher:subscription_error data.
const (
	SubscriptionErrorAuth         = "AuthError"
	SubscriptionErrorInvalid      = "InvalidChannel"
	SubscriptionErrorLimitReached = "LimitReached"
)

// Statuses carried in pusher:subscription_error data: HTTP's numbers, as Pusher sends them.
const (
	SubscriptionStatusInvalid   = 400 // a bad channel name or channel_data
	SubscriptionStatusAuth      = 401 // a signature that does not match
	SubscriptionStatusForbidden = 403 // not allowed: not signed in as the user, a limit of members or channels
	SubscriptionStatusTooLarge  = 413 // user_info over the app's limit
	SubscriptionStatusTooFast   = 429 // subscribes over the app's rate
)
