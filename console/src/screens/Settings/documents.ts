import { graphql } from "../../gql";

export const ChangePasswordDocument = graphql(`
  mutation ChangePassword($currentPassword: String!, $newPassword: String!) {
    changePassword(currentPassword: $currentPassword, newPassword: $newPassword) {
      ...SignInPayloadFields
    }
  }
`);

export const SignOutEverywhereDocument = graphql(`
  mutation SignOutEverywhere {
    signOutEverywhere {
      ok
    }
  }
`);

export const LogRetentionDocument = graphql(`
  query LogRetention {
    logRetentionDays
  }
`);

export const SetLogRetentionDocument = graphql(`
  mutation SetLogRetention($days: Int!) {
    setLogRetention(days: $days) {
      logRetentionDays
      errors {
        ...UserErrorFields
      }
    }
  }
`);
