package models

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"switchboard/models/tenancy"
)

// PlatformAWSAccountID is the AWS account that assumes customers' roles to
// read their buckets; trust policies name it.
const PlatformAWSAccountID = "471112652283"

// AWSRegions are the regions an S3 integration may name: AWS's commercial
// partition, the one whose roles (arn:aws:…) can trust the platform's
// account. China and GovCloud are separate partitions.
var AWSRegions = []string{
	"af-south-1", "ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
	"ap-south-1", "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3",
	"ap-southeast-4", "ap-southeast-5", "ap-southeast-7", "ca-central-1", "ca-west-1",
	"eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1",
	"eu-south-2", "eu-west-1", "eu-west-2", "eu-west-3", "il-central-1", "me-central-1",
	"me-south-1", "mx-central-1", "sa-east-1", "us-east-1", "us-east-2", "us-west-1", "us-west-2",
}

// S3Integration lets the platform read videos from a customer's bucket by
// assuming an IAM role that trusts it with the integration's external ID.
type S3Integration struct {
	ID          int64
	PublicID    string
	AccountID   int64
	Name        string
	Bucket      string
	Region      string
	RoleARN     string `gorm:"column:role_arn"`
	Prefix      string
	ExternalID  string
	CreatedByID *int64
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// TableName is s3_integrations (GORM would say s3_integrations too, but say it).
func (S3Integration) TableName() string { return "s3_integrations" }

// IntegrationRow is an integration with its creator's name.
type IntegrationRow struct {
	S3Integration
	CreatedByName string
}

// IntegrationInput is the integration form as sent.
type IntegrationInput struct {
	Name    string
	Bucket  string
	Region  string
	RoleARN string
	Prefix  string
}

var (
	bucketChars = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	roleARN     = regexp.MustCompile(`^arn:aws:iam::[0-9]{12}:role/(?:[\x21-\x7e]+/)*[A-Za-z0-9+=,.@_-]{1,64}$`)
)

// validBucket applies AWS's naming rules for general purpose buckets.
func validBucket(b string) string {
	switch {
	case b == "":
		return "Enter the bucket's name."
	case len(b) < 3 || len(b) > 63:
		return "Bucket names are 3 to 63 characters long."
	case !bucketChars.MatchString(b):
		return "Bucket names use lower-case letters, digits, dots and hyphens, and start and end with a letter or digit."
	case strings.Contains(b, ".."), strings.Contains(b, ".-"), strings.Contains(b, "-."):
		return "Bucket names cannot have two dots in a row or a dot next to a hyphen."
	case net.ParseIP(b) != nil:
		return "Bucket names cannot look like an IP address."
	}
	for _, p := range []string{"xn--", "sthree-", "amzn-s3-demo-"} {
		if strings.HasPrefix(b, p) {
			return "Bucket names cannot start with “" + p + "”."
		}
	}
	for _, s := range []string{"-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"} {
		if strings.HasSuffix(b, s) {
			return "Bucket names cannot end with “" + s + "”."
		}
	}
	return ""
}

func validateIntegration(in IntegrationInput) (IntegrationInput, tenancy.FieldErrors) {
	out := IntegrationInput{
		Name:    strings.Join(strings.Fields(in.Name), " "),
		Bucket:  strings.TrimSpace(in.Bucket),
		Region:  strings.TrimSpace(in.Region),
		RoleARN: strings.TrimSpace(in.RoleARN),
		Prefix:  strings.TrimSpace(in.Prefix),
	}
	fe := tenancy.FieldErrors{}
	switch n := utf8.RuneCountInString(out.Name); {
	case n == 0:
		fe["name"] = "Enter a display name."
	case n > 100:
		fe["name"] = "The name must be at most 100 characters."
	default:
		if msg := tenancy.NameProblem("The name", out.Name); msg != "" {
			fe["name"] = msg
		}
	}
	if msg := validBucket(out.Bucket); msg != "" {
		fe["bucket"] = msg
	}
	if !slices.Contains(AWSRegions, out.Region) {
		fe["region"] = "Choose an AWS region, like us-east-1."
	}
	switch {
	case out.RoleARN == "":
		fe["role_arn"] = "Enter the ARN of the IAM role to assume."
	case len(out.RoleARN) > 2048 || !roleARN.MatchString(out.RoleARN):
		fe["role_arn"] = "Enter a role ARN like arn:aws:iam::123456789012:role/switchboard-read."
	}
	switch {
	case len(out.Prefix) > 1024:
		fe["prefix"] = "The prefix must be at most 1,024 bytes."
	case strings.HasPrefix(out.Prefix, "/"):
		fe["prefix"] = "The prefix starts inside the bucket: leave out the leading slash."
	case !tenancy.PlainText(out.Prefix):
		fe["prefix"] = "The prefix cannot contain control characters."
	}
	return out, fe
}

// newExternalID is the secret the role's trust policy must require.
func newExternalID() string { return "sb-" + tenancy.NewObjectID() + tenancy.NewObjectID()[:8] }

// CreateIntegration records an S3 integration in the scope's account. No call
// to AWS is made.
func CreateIntegration(ctx context.Context, db *gorm.DB, s tenancy.Scope, in IntegrationInput) (S3Integration, error) {
	if err := s.Require(tenancy.CapUseResources); err != nil {
		return S3Integration{}, err
	}
	in, fe := validateIntegration(in)
	if err := fe.OrNil(); err != nil {
		return S3Integration{}, err
	}
	creator := s.UserID()
	it := S3Integration{PublicID: tenancy.NewObjectID(), Name: in.Name, Bucket: in.Bucket, Region: in.Region,
		RoleARN: in.RoleARN, Prefix: in.Prefix, ExternalID: newExternalID(), CreatedByID: &creator}
	err := s.Write(ctx, db, func(tx *gorm.DB) error { return s.Apply(tx).Create(&it).Error })
	return it, err
}

// GetIntegration returns an integration of the scope's account.
func GetIntegration(ctx context.Context, db *gorm.DB, s tenancy.Scope, publicID string) (IntegrationRow, error) {
	var row IntegrationRow
	err := s.Read(ctx, db, func(tx *gorm.DB) error {
		return s.Apply(tx.Model(&S3Integration{})).
			Select("s3_integrations.*, users.name AS created_by_name").
			Joins("LEFT JOIN users ON users.id = s3_integrations.created_by_id").
			Where("s3_integrations.public_id = ?", publicID).
			Take(&row).Error
	})
	return row, tenancy.NotFound(err)
}

// IntegrationList is a page of integrations and their count.
type IntegrationList struct {
	Rows   []IntegrationRow
	Total  int64
	Capped bool
}

// ListIntegrations returns a page of the scope's integrations, newest first.
func ListIntegrations(ctx context.Context, db *gorm.DB, s tenancy.Scope, page tenancy.Page) (IntegrationList, error) {
	var list IntegrationList
	err := s.Read(ctx, db, func(tx *gorm.DB) error {
		total, capped, err := cappedCount(s.Apply(tx.Model(&S3Integration{})))
		if err != nil {
			return err
		}
		list.Total, list.Capped = total, capped
		return s.Apply(tx.Model(&S3Integration{})).
			Select("s3_integrations.*, users.name AS created_by_name").
			Joins("LEFT JOIN users ON users.id = s3_integrations.created_by_id").
			Order("s3_integrations.created_at DESC, s3_integrations.id DESC").
			Limit(page.Size).Offset(page.Offset()).
			Find(&list.Rows).Error
	})
	return list, err
}

// UpdateIntegration changes an integration's settings; its external ID stays.
func UpdateIntegration(ctx context.Context, db *gorm.DB, s tenancy.Scope, publicID string, in IntegrationInput) (S3Integration, error) {
	if err := s.Require(tenancy.CapUseResources); err != nil {
		return S3Integration{}, err
	}
	row, err := GetIntegration(ctx, db, s, publicID)
	if err != nil {
		return S3Integration{}, err
	}
	in, fe := validateIntegration(in)
	if err := fe.OrNil(); err != nil {
		return S3Integration{}, err
	}
	it := row.S3Integration
	it.Name, it.Bucket, it.Region, it.RoleARN, it.Prefix, it.UpdatedAt = in.Name, in.Bucket, in.Region, in.RoleARN, in.Prefix, tenancy.Now()
	err = s.Write(ctx, db, func(tx *gorm.DB) error {
		return s.Apply(tx.Model(&S3Integration{})).Where("id = ?", it.ID).Updates(map[string]any{
			"name": it.Name, "bucket": it.Bucket, "region": it.Region, "role_arn": it.RoleARN, "prefix": it.Prefix, "updated_at": it.UpdatedAt,
		}).Error
	})
	return it, err
}

// DeleteIntegration deletes an integration of the scope's account.
func DeleteIntegration(ctx context.Context, db *gorm.DB, s tenancy.Scope, publicID string) (S3Integration, error) {
	if err := s.Require(tenancy.CapUseResources); err != nil {
		return S3Integration{}, err
	}
	row, err := GetIntegration(ctx, db, s, publicID)
	if err != nil {
		return S3Integration{}, err
	}
	err = s.Write(ctx, db, func(tx *gorm.DB) error {
		res := s.Apply(tx).Where("id = ?", row.ID).Delete(&S3Integration{})
		if res.Error == nil && res.RowsAffected == 0 {
			return tenancy.ErrNotFound
		}
		return res.Error
	})
	return row.S3Integration, err
}

// TrustPolicy is the JSON to paste as the IAM role's trust policy: the
// platform's account may assume the role only with this external ID.
func (it S3Integration) TrustPolicy() string {
	return fmt.Sprintf(`{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Principal": { "AWS": "arn:aws:iam::%s:root" },
      "Action": "sts:AssumeRole",
      "Condition": { "StringEquals": { "sts:ExternalId": "%s" } }
    }
  ]
}`, PlatformAWSAccountID, it.ExternalID)
}

// PermissionsPolicy is the JSON of the role's permissions: read the bucket
// (under the prefix, if any).
func (it S3Integration) PermissionsPolicy() string {
	objects, _ := json.Marshal("arn:aws:s3:::" + it.Bucket + "/" + it.Prefix + "*") // the prefix may hold quotes
	return fmt.Sprintf(`{
  "Version": "2012-10-17",
  "Statement": [
    { "Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": "arn:aws:s3:::%s" },
    { "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": %s }
  ]
}`, it.Bucket, objects)
}
