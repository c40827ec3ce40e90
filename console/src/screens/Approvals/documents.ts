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
      id
      email
      firstName
      lastName
      role
    }
    maker: user(id: $makerId) {
      id
      email
      firstName
      lastName
    }
  }
`);

export const ApprovalAccountDocument = graphql(`
  query ApprovalAccount($accountId: ID!, $makerId: ID!) {
    pointsAccount(id: $accountId) {
      id
      program
      balance
      user {
        id
        email
        firstName
        lastName
        role
      }
    }
    maker: user(id: $makerId) {
      id
      email
      firstName
      lastName
    }
  }
`);


export const ApproveRequestDocument = graphql(`
  mutation ApproveRequest($id: ID!, $comment: String) {
    approveRequest(id: $id, comment: $comment) {
      approvalRequest {
        ...ApprovalFields
      }
      errors {
        code
        field
        message
      }
    }
  }
`);

export const RejectRequestDocument = graphql(`
  mutation RejectRequest($id: ID!, $comment: String) {
    rejectRequest(id: $id, comment: $comment) {
      approvalRequest {
        ...ApprovalFields
      }
      errors {
        code
        field
        message
      }
    }
  }
`);

export const CancelRequestDocument = graphql(`
  mutation CancelRequest($id: ID!) {
    cancelRequest(id: $id) {
      approvalRequest {
        ...ApprovalFields
      }
      errors {
        code
        field
        message
      }
    }
  }
`);
