#!/usr/bin/env bash
# One-time GCP setup for a connector: the bucket, a service account with object access on
# that bucket only, and Workload Identity for the pods' Kubernetes service account.
# Read it before running it; every name is a placeholder to replace.
set -euo pipefail
PROJECT=my-project
REGION=europe-west1              # the GKE cluster's region
BUCKET=my-actor-state
STATE_PREFIX=models/v2           # the connector's STATE_PREFIX; empty for none
GSA=actor-sa                     # Google service account
NAMESPACE=prod
KSA=actor-service-account        # Kubernetes service account of the actor pods

# Bucket: same region as the cluster, uniform access, no public access.
gcloud storage buckets create "gs://$BUCKET" --project="$PROJECT" --location="$REGION" \
  --default-storage-class=STANDARD --uniform-bucket-level-access --public-access-prevention

# Service account, allowed on this bucket only (not project-wide).
gcloud iam service-accounts create "$GSA" --project="$PROJECT"
gcloud storage buckets add-iam-policy-binding "gs://$BUCKET" \
  --member="serviceAccount:$GSA@$PROJECT.iam.gserviceaccount.com" --role=roles/storage.objectUser

# Workload Identity: the pods' Kubernetes service account acts as the Google one.
gcloud iam service-accounts add-iam-policy-binding "$GSA@$PROJECT.iam.gserviceaccount.com" \
  --role=roles/iam.workloadIdentityUser \
  --member="serviceAccount:$PROJECT.svc.id.goog[$NAMESPACE/$KSA]"
kubectl create serviceaccount "$KSA" -n "$NAMESPACE" --dry-run=client -o yaml | kubectl apply -f -
kubectl annotate serviceaccount "$KSA" -n "$NAMESPACE" --overwrite \
  iam.gke.io/gcp-service-account="$GSA@$PROJECT.iam.gserviceaccount.com"
