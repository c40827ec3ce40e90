import { graphql } from "../../gql";

export const UserDetailDocument = graphql(`
  query UserDetail($id: ID!) {
    user(id: $id) {
      ...UserFields
      passwordSet
      enrolledAt
      pointsAccounts {
        ...PointsAccountFields
      }
    }
  }
`);

export const AccountLedgerDocument = graphql(`
  query AccountLedger($id: ID!, $first: Int, $after: String) {
    pointsAccount(id: $id) {
      id
      transactions(first: $first, after: $after) {
        pageInfo {
          hasNextPage
          endCursor
        }
        edges {
          node {
            id
            action
            amount
            balanceAfter
            reason
            createdAt
          }
        }
      }
    }
  }
`);

export const DeleteUserDocument = graphql(`
  mutation DeleteUser($id: ID!) {
    deleteUser(id: $id) {
      deletedUserId
      approvalRequest {
        id
      }
      errors {
        ...UserErrorFields
      }
    }
  }
`);

export const OpenPointsAccountDocument = graphql(`
  mutation OpenPointsAccount($userId: ID!, $program: String!) {
    openPointsAccount(userId: $userId, program: $program) {
      ...PointsPayloadFields
    }
  }
`);

export const ResendInvitationDocument = graphql(`
  mutation ResendInvitation($userId: ID!) {
    resendInvitation(userId: $userId) {
      ...UserPayloadFields
    }
  }
`);

export const ForcePasswordResetDocument = graphql(`
  mutation ForcePasswordReset($userId: ID!) {
    forcePasswordReset(userId: $userId) {
      ...UserPayloadFields
    }
  }
`);
