import { graphql } from "../../gql";

export const AdjustableUserDocument = graphql(`
  query AdjustableUser($id: ID!) {
    user(id: $id) {
      id
      firstName
      lastName
      role
      pointsAccounts {
        id
        program
        balance
      }
    }
  }
`);

export const AdjustPointsDocument = graphql(`
  mutation AdjustPoints($input: AdjustPointsInput!) {
    adjustPoints(input: $input) {
      account {
        id
        balance
      }
      approvalRequest {
        id
      }
      errors {
        code
        field
        message
      }
    }
  }
`);
