//! CloudWatch Logs through aws-sdk-cloudwatchlogs: the access log group's calls, and the
//! client diagnose reads execution logs with.

use std::collections::HashMap;
use std::future::Future;

use aws_sdk_cloudwatchlogs::Client;

use super::meter::Meter;
use crate::model::{AwsError, LogGroup, ObservedLogGroup, Tag};

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

    /// The group named exactly `name` (DescribeLogGroups by prefix, paged, then
    /// ListTagsForResource when it exists), with its ARN without DescribeLogGroups' `:*`;
    /// `account_id` gives the ARN of a group AWS has no ARN for (none yet).
    pub(super) async fn log_group<F, Fut>(
        &self,
        name: &str,
        account_id: F,
    ) -> Result<ObservedLogGroup, AwsError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<String, AwsError>>,
    {
        let described = self.describe(name).await?;
        let arn = match described.as_ref().and_then(|(arn, _)| arn.clone()) {
            Some(arn) => arn,
            None => log_group_arn(self.meter.region(), &account_id().await?, name),
        };
        let Some((_, retention_days)) = described else {
            return Ok(ObservedLogGroup { arn, found: None });
        };
        let request = self
            .client
            .list_tags_for_resource()
            .resource_arn(&arn)
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
        let found = LogGroup {
            name: name.to_owned(),
            retention_days,
            tags,
        };
        Ok(ObservedLogGroup {
            arn,
            found: Some(found),
        })
    }

    /// The ARN AWS gives the group named exactly `name` (if any) and its retention, when it
    /// exists.
    async fn describe(
        &self,
        name: &str,
    ) -> Result<Option<(Option<String>, Option<i32>)>, AwsError> {
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
                let arn = group
                    .log_group_arn()
                    .or_else(|| group.arn().map(|arn| arn.trim_end_matches(":*")));
                return Ok(Some((arn.map(str::to_owned), group.retention_in_days())));
            }
            match page.next_token() {
                Some(token) if !page.log_groups().is_empty() => next_token = Some(token.to_owned()),
                _ => return Ok(None),
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

/// The ARN a log group of this name has in the account and region: what an access log
/// destination names before the group exists.
pub(super) fn log_group_arn(region: &str, account_id: &str, name: &str) -> String {
    format!(
        "arn:{}:logs:{region}:{account_id}:log-group:{name}",
        crate::model::partition(region)
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
