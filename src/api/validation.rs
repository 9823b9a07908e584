//! Reusable validators with upstream's messages (`apimachinery/pkg/util/validation`):
//! DNS-1123 subdomain/label, DNS-1035 label, qualified names, label values, path segments.
