import { graphql } from "../../gql";

export const ApprovalFields = graphql(`
  fragment ApprovalFields on ApprovalRequest {
    id
    kind
    status
    targetId
    change
    makerId
    checkerId
    comment
    createdAt
    decidedAt
    viewerCanDecide
    viewerCanCancel
  }
`);

/** A decision on a request: the request as it now stands, or why it was refused. */
export const ApprovalPayloadFields = graphql(`
  fragment ApprovalPayloadFields on ApprovalPayload {
    approvalRequest {
      ...ApprovalFields
    }
    errors {
      ...UserErrorFields
    }
  }
`);

export const ApprovalRequestsDocument = graphql(`
  query ApprovalRequests($status: ApprovalStatus, $first: Int!, $after: String) {
    approvalRequests(status: $status, first: $first, after: $after) {
      edges {
        node {
          ...ApprovalFields
        }
      }
      pageInfo {
        hasNextPage
        endCursor
      }
    }
  }
`);

/** Who a request is about and who made it, to show names rather than ids. */
export const ApprovalPeopleDocument = graphql(`
  query ApprovalPeople($userId: ID!, $makerId: ID!) {
    user(id: $userId) {
      ...UserFields
    }
    maker: user(id: $makerId) {
      ...UserFields
    }
  }
`);

export const ApprovalAccountDocument = graphql(`
  query ApprovalAccount($accountId: ID!, $makerId: ID!) {
    pointsAccount(id: $accountId) {
      ...PointsAccountFields
      user {
        ...UserFields
      }
    }
    maker: user(id: $makerId) {
      ...UserFields
    }
  }
`);

export const ApproveRequestDocument = graphql(`
  mutation ApproveRequest($id: ID!, $comment: String) {
    approveRequest(id: $id, comment: $comment) {
      ...ApprovalPayloadFields
    }
  }
`);

export const RejectRequestDocument = graphql(`
  mutation RejectRequest($id: ID!, $comment: String) {
    rejectRequest(id: $id, comment: $comment) {
      ...ApprovalPayloadFields
    }
  }
`);

export const CancelRequestDocument = graphql(`
  mutation CancelRequest($id: ID!) {
    cancelRequest(id: $id) {
      ...ApprovalPayloadFields
    }
  }
`);
