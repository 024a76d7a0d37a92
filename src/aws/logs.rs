//! CloudWatch Logs through aws-sdk-cloudwatchlogs: the access log group's calls, and the
//! client diagnose reads execution logs with.

use std::collections::HashMap;
use std::future::Future;

use aws_sdk_cloudwatchlogs::Client;

use super::meter::Meter;
use crate::core::model::{AwsError, LogGroup, ObservedLogGroup, Tag};

/// CloudWatch Logs; every call goes through the [`Meter`] (service `logs`).
#[derive(Clone, Debug)]
pub struct SdkLogs {
    pub(super) client: Client,
    pub(super) meter: Meter,
}

impl SdkLogs {
    pub(super) fn new(client: Client, meter: Meter) -> Self {
        Self { client, meter }
    }

    /// The group named exactly `name` (DescribeLogGroups by prefix, paged), with its tags
    /// when `with_tags` (ListTagsForResource, when it exists), and its ARN without
    /// DescribeLogGroups' `:*`; `account_id` gives the ARN of a group AWS has no ARN for (none
    /// yet).
    pub(super) async fn log_group<F, Fut>(
        &self,
        name: &str,
        with_tags: bool,
        account_id: F,
    ) -> Result<ObservedLogGroup, AwsError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<String, AwsError>>,
    {
        let listed = self.describe(name).await?;
        let mut observed = observed(self.meter.region(), name, listed, None, account_id).await?;
        if let (true, Some(found)) = (with_tags, observed.found.as_mut()) {
            found.tags = Some(self.tags(&observed.arn).await?);
        }
        Ok(observed)
    }

    /// The group's tags, sorted (ListTagsForResource).
    async fn tags(&self, arn: &str) -> Result<Vec<Tag>, AwsError> {
        let request = self
            .client
            .list_tags_for_resource()
            .resource_arn(arn)
            .send();
        // CloudWatch has a ListTagsForResource too: the error names this one's IAM action.
        let out = self
            .meter
            .call("ListTagsForResource", false, request)
            .await
            .map_err(|err| AwsError {
                operation: "logs:ListTagsForResource",
                ..err
            })?;
        let mut tags: Vec<Tag> = out
            .tags()
            .into_iter()
            .flatten()
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        tags.sort();
        Ok(tags)
    }

    /// What DescribeLogGroups lists of the group named exactly `name`, when it exists.
    async fn describe(&self, name: &str) -> Result<Option<ListedLogGroup>, AwsError> {
        let mut next_token = None;
        loop {
            let request = self
                .client
                .describe_log_groups()
                .log_group_name_prefix(name)
                .set_next_token(next_token.take())
                .send();
            let page = self.meter.call("DescribeLogGroups", false, request).await?;
            let group = page
                .log_groups()
                .iter()
                .find(|group| group.log_group_name() == Some(name));
            if let Some(group) = group {
                return Ok(Some(listed(group)));
            }
            match page.next_token() {
                Some(token) if !page.log_groups().is_empty() => next_token = Some(token.to_owned()),
                _ => return Ok(None),
            }
        }
    }

    /// Every group whose name starts with `prefix`, by name (DescribeLogGroups, 50 a page,
    /// AWS's largest).
    pub(super) async fn groups_with_prefix(
        &self,
        prefix: &str,
    ) -> Result<HashMap<String, ListedLogGroup>, AwsError> {
        let mut groups = HashMap::new();
        let mut next_token = None;
        loop {
            let request = self
                .client
                .describe_log_groups()
                .log_group_name_prefix(prefix)
                .limit(LOG_GROUPS_PAGE)
                .set_next_token(next_token.take())
                .send();
            let page = self.meter.call("DescribeLogGroups", false, request).await?;
            groups.extend(
                page.log_groups()
                    .iter()
                    .filter_map(|group| Some((group.log_group_name()?.to_owned(), listed(group)))),
            );
            match page.next_token() {
                Some(token) if !page.log_groups().is_empty() => next_token = Some(token.to_owned()),
                _ => return Ok(groups),
            }
        }
    }

    /// CreateLogGroup with the tags, then its retention.
    pub(super) async fn create(
        &self,
        name: &str,
        retention_days: i32,
        tags: &[Tag],
    ) -> Result<(), AwsError> {
        let request = self
            .client
            .create_log_group()
            .log_group_name(name)
            // AWS refuses an empty tag map.
            .set_tags((!tags.is_empty()).then(|| tags.iter().cloned().collect::<HashMap<_, _>>()))
            .send();
        // A group already there was made by an earlier attempt that did not get as far as its
        // retention.
        if let Err(err) = self.meter.call("CreateLogGroup", true, request).await
            && err.code != "ResourceAlreadyExistsException"
        {
            return Err(err);
        }
        self.put_retention(name, retention_days).await
    }

    pub(super) async fn put_retention(
        &self,
        name: &str,
        retention_days: i32,
    ) -> Result<(), AwsError> {
        let request = self
            .client
            .put_retention_policy()
            .log_group_name(name)
            .retention_in_days(retention_days)
            .send();
        self.meter
            .call("PutRetentionPolicy", true, request)
            .await
            .map(|_| ())
    }

    /// DeleteLogGroup; a group already gone is not an error.
    pub(super) async fn delete(&self, name: &str) -> Result<(), AwsError> {
        let request = self.client.delete_log_group().log_group_name(name).send();
        match self.meter.call("DeleteLogGroup", true, request).await {
            Err(err) if err.code != "ResourceNotFoundException" => Err(err),
            _ => Ok(()),
        }
    }
}

/// DescribeLogGroups' largest page.
const LOG_GROUPS_PAGE: i32 = 50;

/// A log group as DescribeLogGroups lists it: no tags.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct ListedLogGroup {
    /// Its ARN without `:*`, when AWS gave one.
    pub arn: Option<String>,
    pub retention_days: Option<i32>,
}

fn listed(group: &aws_sdk_cloudwatchlogs::types::LogGroup) -> ListedLogGroup {
    let arn = group
        .log_group_arn()
        .or_else(|| group.arn().map(|arn| arn.trim_end_matches(":*")));
    ListedLogGroup {
        arn: arn.map(str::to_owned),
        retention_days: group.retention_in_days(),
    }
}

/// The group named `name` as `listed` shows it (`None`: missing), with `tags` when known;
/// `account_id` is asked only for the ARN of a group AWS gave none for.
pub(super) async fn observed<F, Fut>(
    region: &str,
    name: &str,
    listed: Option<ListedLogGroup>,
    tags: Option<Vec<Tag>>,
    account_id: F,
) -> Result<ObservedLogGroup, AwsError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<String, AwsError>>,
{
    let arn = match listed.as_ref().and_then(|group| group.arn.clone()) {
        Some(arn) => arn,
        None => log_group_arn(region, &account_id().await?, name),
    };
    Ok(ObservedLogGroup {
        arn,
        found: listed.map(|group| LogGroup {
            name: name.to_owned(),
            retention_days: group.retention_days,
            tags,
        }),
    })
}

/// The ARN a log group of this name has in the account and region: what an access log
/// destination names before the group exists.
pub(super) fn log_group_arn(region: &str, account_id: &str, name: &str) -> String {
    format!(
        "arn:{}:logs:{region}:{account_id}:log-group:{name}",
        crate::core::model::partition(region)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_group_arn_is_in_its_regions_partition() {
        let name = "/aws/apigateway/apigw-guard/a1b2c3/_default";
        assert_eq!(
            log_group_arn("eu-west-1", "111122223333", name),
            "arn:aws:logs:eu-west-1:111122223333:log-group:/aws/apigateway/apigw-guard/a1b2c3/_default"
        );
        assert_eq!(
            log_group_arn("cn-north-1", "111122223333", "g"),
            "arn:aws-cn:logs:cn-north-1:111122223333:log-group:g"
        );
        assert_eq!(
            log_group_arn("us-gov-west-1", "111122223333", "g"),
            "arn:aws-us-gov:logs:us-gov-west-1:111122223333:log-group:g"
        );
    }
}
