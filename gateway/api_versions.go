package gateway

// ApiVersions: v0-v3
//
// Behavior:
//   - Returns every key in the version table with the versions served.
//   - A request of a version above ours is answered with a v0 response carrying
//     UNSUPPORTED_VERSION and our ApiVersions range, without parsing its body
//     (KIP-511), so the client retries at a version we speak.
//   - v3 carries the client's software name and version; like Kafka we answer
//     INVALID_REQUEST when they do not match [a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?.
//
// Version notes: v1 ThrottleMillis; v3 flexible, client software, features (none
// advertised).

import (
	"context"
	"regexp"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var softwareNameOrVersion = regexp.MustCompile(`^[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?$`)

func (s *Server) handleApiVersions(_ context.Context, _ *conn, kreq kmsg.Request) (reply, error) {
	req := kreq.(*kmsg.ApiVersionsRequest)
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	if req.Version >= 3 && (!softwareNameOrVersion.MatchString(req.ClientSoftwareName) || !softwareNameOrVersion.MatchString(req.ClientSoftwareVersion)) {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return respond(resp), nil
	}
	for _, a := range apis {
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = a.key, a.min, a.max
		resp.ApiKeys = append(resp.ApiKeys, k)
	}
	return respond(resp), nil
}

// unsupportedApiVersions is the v0 answer to an ApiVersions request of a version
// we do not serve.
func unsupportedApiVersions() *kmsg.ApiVersionsResponse {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 0
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	a, _ := apiByKey(apiVersionsKey)
	k := kmsg.NewApiVersionsResponseApiKey()
	k.ApiKey, k.MinVersion, k.MaxVersion = a.key, a.min, a.max
	resp.ApiKeys = append(resp.ApiKeys, k)
	return resp
}
