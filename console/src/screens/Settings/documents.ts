import { graphql } from "../../gql";

export const ChangePasswordDocument = graphql(`
  mutation ChangePassword($currentPassword: String!, $newPassword: String!) {
    changePassword(currentPassword: $currentPassword, newPassword: $newPassword) {
      accessToken
      errors {
        code
        field
        message
      }
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
        code
        field
        message
      }
    }
  }
`);
