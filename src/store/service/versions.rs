//! ListObjectVersions: every version and delete marker, by key then newest
//! first, with prefixes, delimiters and markers.

use super::*;

impl Store {
    pub(in crate::store) async fn versions_impl(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        let input = req.input;
        let dir = self.bucket_dir(&input.bucket).await?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let delimiter = input.delimiter.as_deref().filter(|d| !d.is_empty());
        let max = max_keys(input.max_keys);
        let key_marker = input.key_marker.clone().filter(|m| !m.is_empty());
        let version_marker = input.version_id_marker.clone().filter(|m| !m.is_empty());
        let records = self.all_keys(&dir).await?;
        // One item per version, newest first within a key; the markers
        // resume after a key, or after one version of it.
        let mut items: Vec<(String, (String, Version, bool))> = Vec::new();
        for r in records {
            if let Some(m) = &key_marker
                && (r.key < *m || (r.key == *m && version_marker.is_none()))
            {
                continue;
            }
            let resume_in_key = key_marker.as_deref() == Some(r.key.as_str());
            let mut skipping = resume_in_key;
            for (i, v) in r.versions.iter().rev().enumerate() {
                if skipping {
                    if version_marker.as_deref() == Some(v.id.as_str()) {
                        skipping = false;
                    }
                    continue;
                }
                items.push((r.key.clone(), (r.key.clone(), v.clone(), i == 0)));
            }
        }
        let after = key_marker
            .as_deref()
            .map(|m| Marker::from_client(m, &prefix, delimiter))
            .filter(|m| matches!(m, Marker::Prefix(_)));
        let page = listing::page(items, &prefix, delimiter, after.as_ref(), max);
        let encode = listing::encoder(input.encoding_type.as_ref());
        let (next_key_marker, next_version_id_marker) = match &page.next {
            Some(Marker::Prefix(p)) => (Some(encode(p)), None),
            Some(Marker::Key(k)) => (
                Some(encode(k)),
                page.entries.last().map(|(_, v, _)| v.id.clone()),
            ),
            None => (None, None),
        };
        let mut versions = Vec::new();
        let mut delete_markers = Vec::new();
        for (key, v, latest) in page.entries {
            if v.is_delete_marker() {
                delete_markers.push(DeleteMarkerEntry {
                    key: Some(encode(&key)),
                    version_id: Some(v.id),
                    is_latest: Some(latest),
                    last_modified: Some(timestamp(v.last_modified)),
                    owner: None,
                });
            } else {
                versions.push(ObjectVersion {
                    key: Some(encode(&key)),
                    e_tag: Some(v.e_tag()),
                    size: i64::try_from(v.size).ok(),
                    is_latest: Some(latest),
                    last_modified: Some(timestamp(v.last_modified)),
                    storage_class: Some(ObjectVersionStorageClass::from(
                        ObjectVersionStorageClass::STANDARD.to_owned(),
                    )),
                    version_id: Some(v.id),
                    ..Default::default()
                });
            }
        }
        Ok(S3Response::new(ListObjectVersionsOutput {
            name: Some(input.bucket),
            prefix: Some(encode(&prefix)),
            delimiter: input.delimiter.as_deref().map(encode),
            key_marker: input.key_marker.as_deref().map(encode),
            version_id_marker: input.version_id_marker,
            next_key_marker,
            next_version_id_marker,
            max_keys: Some(i32::try_from(max).unwrap_or(MAX_KEYS)),
            is_truncated: Some(page.truncated),
            versions: Some(versions),
            delete_markers: Some(delete_markers),
            common_prefixes: common_prefixes(page.prefixes, encode),
            encoding_type: input.encoding_type,
            ..Default::default()
        }))
    }
}
