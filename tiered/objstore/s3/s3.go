package s3

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/stratalog/strata/tiered/objstore"
)

// Config configures a Bucket. The zero value of each field is its documented
// default; Bucket is required.
type Config struct {
	// Endpoint is the base URL of an S3-compatible store, such as
	// "http://127.0.0.1:9000". Default: empty, meaning AWS S3.
	Endpoint string
	// Bucket is the bucket name. Required.
	Bucket string
	// Region signs requests and places a bucket CreateBucket makes.
	// Default: "us-east-1".
	Region string
	// PathStyle addresses the bucket as <endpoint>/<bucket>/<key> instead of
	// <bucket>.<endpoint>/<key>. Most S3-compatible stores need it.
	// Default: false.
	PathStyle bool
	// Prefix is prepended to every key, so several clusters can share a
	// bucket. A '/' is appended if missing. List strips it again.
	// Default: empty.
	Prefix string
	// CreateBucket makes New create Bucket if it does not exist (tests, the
	// embedded MinIO stack). Default: false, and New does not touch the
	// bucket.
	CreateBucket bool
	// MaxAttempts bounds how often the SDK's retryer tries each request,
	// first attempt included; ctx bounds it too. Default: 5.
	MaxAttempts int
	// AccessKey and SecretKey are static credentials, for tests. Default:
	// empty, meaning the AWS default credential chain (environment, shared
	// config, IAM role).
	AccessKey, SecretKey string
}

const (
	defaultRegion      = "us-east-1"
	defaultMaxAttempts = 5
	// maxRetryBackoff caps the SDK's pause between attempts (20s by
	// default). Callers retry a failed request themselves; the SDK's
	// retries only smooth over blips, and a long backoff inside one call
	// delays the first write after an outage ends by as much.
	maxRetryBackoff = time.Second
)

// withDefaults validates c and fills in defaults.
func (c Config) withDefaults() (Config, error) {
	if c.Bucket == "" {
		return c, errors.New("s3: config: Bucket is required")
	}
	if c.MaxAttempts < 0 {
		return c, fmt.Errorf("s3: config: MaxAttempts %d is negative", c.MaxAttempts)
	}
	if (c.AccessKey == "") != (c.SecretKey == "") {
		return c, errors.New("s3: config: AccessKey and SecretKey must be set together")
	}
	if c.Region == "" {
		c.Region = defaultRegion
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = defaultMaxAttempts
	}
	if c.Prefix != "" && !strings.HasSuffix(c.Prefix, "/") {
		c.Prefix += "/"
	}
	return c, nil
}

// Bucket is an objstore.Bucket over one S3 bucket and key prefix. It is safe
// for concurrent use.
type Bucket struct {
	client *awss3.Client
	bucket string
	prefix string // ends in '/' or is empty
}

var _ objstore.Bucket = (*Bucket)(nil)

// New returns a Bucket for cfg. It loads credentials from cfg or the AWS
// default chain and, with cfg.CreateBucket, creates the bucket if missing;
// otherwise it makes no request, so a wrong bucket or credentials surface on
// first use (run objstore.Probe at start-up to find out early).
func New(ctx context.Context, cfg Config) (*Bucket, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	opts := []func(*config.LoadOptions) error{
		config.WithRegion(cfg.Region),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = cfg.MaxAttempts
				o.MaxBackoff = maxRetryBackoff
			})
		}),
	}
	if cfg.AccessKey != "" {
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKey, cfg.SecretKey, "")))
	}
	if cfg.Endpoint != "" {
		// Quirk: see the package doc. Only AWS is known to accept the
		// SDK's default checksum trailers everywhere.
		opts = append(opts,
			config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
			config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3: load aws config: %w", err)
	}
	client := awss3.NewFromConfig(awsCfg, func(o *awss3.Options) {
		o.UsePathStyle = cfg.PathStyle
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
	})
	b := &Bucket{client: client, bucket: cfg.Bucket, prefix: cfg.Prefix}
	if cfg.CreateBucket {
		if err := b.ensureBucket(ctx, cfg.Region); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// ensureBucket creates the bucket unless it exists. HeadBucket first, so a
// bucket that exists needs no CreateBucket permission.
func (b *Bucket) ensureBucket(ctx context.Context, region string) error {
	_, err := b.client.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: &b.bucket})
	if err == nil {
		return nil
	}
	if !errors.Is(sentinel(err), objstore.ErrNotExist) {
		return fmt.Errorf("s3: check bucket %s: %w", b.bucket, err)
	}
	in := &awss3.CreateBucketInput{Bucket: &b.bucket}
	if region != defaultRegion {
		// us-east-1 is the one region that rejects its own name as a
		// location constraint.
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{
			LocationConstraint: types.BucketLocationConstraint(region),
		}
	}
	_, err = b.client.CreateBucket(ctx, in)
	var owned *types.BucketAlreadyOwnedByYou
	if err != nil && !errors.As(err, &owned) { // owned: created concurrently
		return fmt.Errorf("s3: create bucket %s: %w", b.bucket, err)
	}
	return nil
}

// key returns the S3 key for an objstore key.
func (b *Bucket) key(key string) (*string, error) {
	if key == "" {
		return nil, errors.New("empty key")
	}
	return aws.String(b.prefix + key), nil
}
