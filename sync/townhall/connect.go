package townhall

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	tushandler "github.com/tus/tusd/v2/pkg/handler"
	"github.com/tus/tusd/v2/pkg/memorylocker"
	"github.com/tus/tusd/v2/pkg/s3store"
)

// Backends are the town hall's storage for Options. The zero value means the embedded
// defaults in the data directory.
type Backends struct {
	Metadata Metadata
	Packets  Packets
	Uploads  Uploads
}

// ConnectOptions name the backends of a town hall run by a provider for many towns.
type ConnectOptions struct {
	// DB is "" (SQLite in the data directory) or a PostgreSQL URL, postgres://user@host/db.
	// The password comes from PGPASSWORD or a pgpass file, never from the URL.
	DB string
	// Objects is "" (files in the data directory) or s3://bucket/prefix, with optional query
	// parameters endpoint (an S3-compatible server's URL) and region. Credentials come from
	// the AWS environment variables or shared files, never from the URL.
	Objects string
	// LockLease bounds how long a dead replica holds an upload's lock (PostgreSQL only);
	// default DefaultLockLease.
	LockLease time.Duration
}

// Connect opens the backends named by o. With PostgreSQL, tus locks are held in it and hold
// across replicas; without it, a single replica locks in memory.
func Connect(ctx context.Context, o ConnectOptions) (Backends, error) {
	var b Backends
	var pg *pgStore
	if o.DB != "" {
		u, err := url.Parse(o.DB)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			return b, errors.New("--db: want postgres://user@host/db")
		}
		if _, has := u.User.Password(); has || u.Query().Has("password") {
			return b, errors.New("--db: no password in the URL: set PGPASSWORD or use a pgpass file")
		}
		if pg, err = openPostgres(ctx, o.DB); err != nil {
			return b, err
		}
		b.Metadata = pg
	}
	fail := func(err error) (Backends, error) {
		if pg != nil {
			_ = pg.Close()
		}
		return Backends{}, err
	}
	lease := o.LockLease
	if lease <= 0 {
		lease = DefaultLockLease
	}
	var locker Uploads = memLocker{}
	if pg != nil {
		locker = &pgLocker{pool: pg.pool, lease: lease, poll: 100 * time.Millisecond}
	}
	if o.Objects != "" {
		bucket, err := openBucket(ctx, o.Objects)
		if err != nil {
			return fail(err)
		}
		b.Packets = s3Packets{bucket}
		b.Uploads = s3Uploads{bucket: bucket, locker: locker}
	} else if pg != nil {
		b.Uploads = dirUploads{locker: locker} // Open names the directory
	}
	return b, nil
}

// bucket is a prefix in an S3 bucket.
type bucket struct {
	client *s3.Client
	name   string
	prefix string
}

func openBucket(ctx context.Context, objects string) (bucket, error) {
	u, err := url.Parse(objects)
	if err != nil || u.Scheme != "s3" || u.Host == "" {
		return bucket{}, errors.New("--objects: want s3://bucket/prefix")
	}
	if u.User != nil {
		return bucket{}, errors.New("--objects: no credentials in the URL: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or use a shared credentials file")
	}
	q := u.Query()
	region := q.Get("region")
	if region == "" {
		region = "us-east-1"
	}
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(region))
	if err != nil {
		return bucket{}, fmt.Errorf("s3: %w", err)
	}
	client := s3.NewFromConfig(cfg, func(so *s3.Options) {
		if ep := q.Get("endpoint"); ep != "" {
			so.BaseEndpoint = aws.String(ep)
		}
		so.UsePathStyle = true // S3-compatible servers rarely resolve bucket host names
		// Checksums only where S3 requires them: other servers do not all know the newer ones.
		so.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		so.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	prefix := strings.Trim(u.Path, "/")
	if prefix != "" {
		prefix += "/"
	}
	b := bucket{client: client, name: u.Host, prefix: prefix}
	hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := client.HeadBucket(hctx, &s3.HeadBucketInput{Bucket: aws.String(b.name)}); err != nil {
		return bucket{}, fmt.Errorf("s3 bucket %s: %w", b.name, err)
	}
	return b, nil
}

// s3Packets keeps packets as objects <prefix>packets/<case>.pkt. A successful PutObject is
// durable in the object store; with bucket versioning an overwrite keeps the old version.
type s3Packets struct{ b bucket }

var _ Packets = s3Packets{}

func (p s3Packets) key(caseID, ext string) *string {
	return aws.String(p.b.prefix + "packets/" + caseID + ext)
}

func (p s3Packets) PutPacket(ctx context.Context, caseID string, data []byte) error {
	if err := p.put(ctx, p.key(caseID, ".pkt"), data); err != nil {
		return fmt.Errorf("store packet: %w", err)
	}
	return nil
}

func (p s3Packets) Packet(ctx context.Context, caseID string) ([]byte, error) {
	return p.get(ctx, p.key(caseID, ".pkt"), "packet "+caseID)
}

// PutRedacted stores <prefix>packets/<case>.redacted.
func (p s3Packets) PutRedacted(ctx context.Context, caseID string, data []byte) error {
	if err := p.put(ctx, p.key(caseID, ".redacted"), data); err != nil {
		return fmt.Errorf("store redacted packet: %w", err)
	}
	return nil
}

func (p s3Packets) Redacted(ctx context.Context, caseID string) ([]byte, error) {
	return p.get(ctx, p.key(caseID, ".redacted"), "redacted packet "+caseID)
}

// DeletePacket deletes the current object. With bucket versioning the old versions stay:
// a town that deletes fingerprints must not version the bucket, or expire noncurrent
// versions.
func (p s3Packets) DeletePacket(ctx context.Context, caseID string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	_, err := p.b.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(p.b.name), Key: p.key(caseID, ".pkt")})
	if err != nil {
		return fmt.Errorf("delete packet: %w", err)
	}
	return nil
}

func (p s3Packets) put(ctx context.Context, key *string, data []byte) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	_, err := p.b.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(p.b.name), Key: key, Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data))),
	})
	return err
}

func (p s3Packets) get(ctx context.Context, key *string, what string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	out, err := p.b.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(p.b.name), Key: key})
	var nsk *types.NoSuchKey
	if errors.As(err, &nsk) {
		return nil, fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}

// s3Uploads is tusd's s3store under <prefix>uploads/, with the given locker.
type s3Uploads struct {
	bucket bucket
	locker Uploads
}

func (u s3Uploads) UseIn(c *tushandler.StoreComposer) {
	st := s3store.New(u.bucket.name, u.bucket.client)
	st.ObjectPrefix = u.bucket.prefix + "uploads/"
	k := keyedS3{S3Store: st, b: u.bucket}
	c.UseCore(k)
	c.UseTerminater(k)
	u.locker.UseIn(c)
}

// keyedS3 lets s3store's uploads answer to the id the kit chose (its upload_key). s3store
// names an upload "<id>+<multipart upload id>", which the kit cannot know before the answer
// to its creation request: a creation cut halfway would leave an upload it cannot find. So
// uploads are known by the id alone, and the multipart id is read from the upload's .info
// object when needed.
type keyedS3 struct {
	s3store.S3Store
	b bucket
}

func (k keyedS3) NewUpload(ctx context.Context, info tushandler.FileInfo) (tushandler.Upload, error) {
	up, err := k.S3Store.NewUpload(ctx, info)
	if err != nil {
		return nil, err
	}
	return keyedUpload{up}, nil
}

func (k keyedS3) GetUpload(ctx context.Context, id string) (tushandler.Upload, error) {
	full := id
	if !strings.Contains(id, "+") {
		out, err := k.b.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(k.b.name), Key: aws.String(k.ObjectPrefix + id + ".info")})
		var nsk *types.NoSuchKey
		if errors.As(err, &nsk) {
			return nil, tushandler.ErrNotFound
		}
		if err != nil {
			return nil, fmt.Errorf("upload %s: %w", id, err)
		}
		var info tushandler.FileInfo
		err = json.NewDecoder(io.LimitReader(out.Body, 1<<20)).Decode(&info)
		_ = out.Body.Close()
		if err != nil || !strings.HasPrefix(info.ID, id+"+") {
			return nil, fmt.Errorf("upload %s: bad info object", id)
		}
		full = info.ID
	}
	up, err := k.S3Store.GetUpload(ctx, full)
	if err != nil {
		return nil, err
	}
	return keyedUpload{up}, nil
}

func (k keyedS3) AsTerminatableUpload(up tushandler.Upload) tushandler.TerminatableUpload {
	if ku, ok := up.(keyedUpload); ok {
		up = ku.Upload
	}
	return k.S3Store.AsTerminatableUpload(up)
}

// keyedUpload reports the upload's id without s3store's multipart suffix.
type keyedUpload struct{ tushandler.Upload }

func (u keyedUpload) GetInfo(ctx context.Context) (tushandler.FileInfo, error) {
	info, err := u.Upload.GetInfo(ctx)
	info.ID, _, _ = strings.Cut(info.ID, "+")
	return info, err
}

// memLocker is tusd's in-process locker: one replica only.
type memLocker struct{}

func (memLocker) UseIn(c *tushandler.StoreComposer) { memorylocker.New().UseIn(c) }
