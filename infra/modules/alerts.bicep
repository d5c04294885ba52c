// The dead-man's switch: Azure Monitor log alerts on the rotator's own telemetry, emailed to the operators.
// (a) a run reported failures; (b) no successful timer run for 26 hours (the timer is daily by default;
// 26 h leaves two hours of slack). The queries are in infra/alerts/*.kql and documented in docs/deploy.md.
param namePrefix string
param location string
param tags object

@description('Resource id of the Application Insights component the function app writes to.')
param appInsightsId string

@description('Comma-separated addresses that receive the alerts.')
param operatorEmails string

@description('Deployment time (UTC): the silence alert waits 26 hours after a deployment before it may fire.')
param deployedAt string

var emails = filter(map(split(operatorEmails, ','), e => trim(e)), e => !empty(e))

resource operators 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: 'ag-${namePrefix}'
  location: 'Global'
  tags: tags
  properties: {
    groupShortName: 'rotator'
    enabled: true
    emailReceivers: [
      for (address, i) in emails: {
        name: 'operator-${i}'
        emailAddress: address
        useCommonAlertSchema: true
      }
    ]
  }
}

resource failures 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'alert-${namePrefix}-run-failures'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Secret rotator: a run reported failures'
    description: 'An app failed to rotate, a run threw, or a work message was given up on. See docs/deploy.md#alerts.'
    severity: 1
    enabled: true
    scopes: [appInsightsId]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT15M'
    autoMitigate: false
    criteria: {
      allOf: [
        {
          query: loadTextContent('../alerts/rotation-failures.kql')
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: { numberOfEvaluationPeriods: 1, minFailingPeriodsToAlert: 1 }
        }
      ]
    }
    actions: { actionGroups: [operators.id] }
  }
}

// The query looks back 26 h itself; the window only has to cover that. A fresh deployment has had no
// timer run yet, so the rule stays quiet until 26 h after the deployment.
resource silence 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'alert-${namePrefix}-timer-silent'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Secret rotator: no successful timer run for 26 hours'
    description: 'The rotator itself has stopped: secrets will expire as if it did not exist. See docs/deploy.md#alerts.'
    severity: 1
    enabled: true
    scopes: [appInsightsId]
    evaluationFrequency: 'PT1H'
    windowSize: 'P2D'
    autoMitigate: true
    criteria: {
      allOf: [
        {
          query: '${loadTextContent('../alerts/timer-silent.kql')}\n| union (print timestamp = now() | where now() < datetime(${deployedAt}) + 26h)\n'
          timeAggregation: 'Count'
          operator: 'LessThan'
          threshold: 1
          failingPeriods: { numberOfEvaluationPeriods: 1, minFailingPeriodsToAlert: 1 }
        }
      ]
    }
    actions: { actionGroups: [operators.id] }
  }
}

output actionGroupId string = operators.id
output alertRuleNames array = [failures.name, silence.name]
